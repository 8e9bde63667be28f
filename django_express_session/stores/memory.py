"""The memory store: one process, bounded, expiring (memorystore's options).

express's MemoryStore leaks: entries expire only when read again, and browser-session
entries never do. This one is an LRU bounded by ``max`` entries, each entry expires at
its store-level time (memorystore's rule), and every write sweeps the entries whose time
has passed (a heap keeps that cheap), so memory stays flat however many visitors come
and go. When ``max`` is reached, sessions that hold no data (only their cookie: what
``saveUninitialized`` stores for every new visitor) are evicted first, least recently
used first, so a flood of anonymous visitors cannot push logged-in users out. Records
are kept as JSON text, as express does, so no caller can mutate them.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

from .. import record
from ..exceptions import CreateError
from ..owner import Owner
from ..record import Record, now_ms
from ..validation import StoreOptions, number, option
from .base import Store, Versioned
from .resources import PeriodicPrune

DAY_MS = 24 * 60 * 60 * 1000


class _Entry(NamedTuple):
    text: str  # the record's JSON
    expires_at: int  # epoch ms


@dataclass(frozen=True, slots=True)
class MemoryOptions(StoreOptions):
    """memorystore's options (``ttl`` and ``checkPeriod`` in ms)."""

    store: ClassVar[str] = "memory"

    max: int = option("max", number(minimum=1), default=100_000)
    ttl_ms: int | None = option("ttl", number(minimum=1, allow_none=True), default=None)
    check_period_ms: int | None = option(
        "checkPeriod", number(minimum=1, allow_none=True), default=None
    )


class MemoryStore(Store):
    name = "memory"
    connection_errors: ClassVar[tuple[type[BaseException], ...]] = ()
    blocking = False

    Options = MemoryOptions
    options: MemoryOptions

    def _setup(self) -> None:
        options = self.options
        self.max = int(options.max)
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        # The ids of entries whose record holds nothing but its cookie, in LRU order too.
        self._blank: OrderedDict[str, None] = OrderedDict()
        self._expiry_heap: list[tuple[int, int, str]] = []
        self._sequence = itertools.count()
        self._lock = threading.Lock()
        # Held by trim_sessions for a whole listing and deletion (``_lock`` is taken
        # inside it, by each read and delete).
        self._limit_lock = threading.Lock()
        # memorystore's checkPeriod: sweep expired entries in the background.
        self._pruning = PeriodicPrune(self, (self.options.check_period_ms or 0) / 1000)
        self._pruning.start()

    def close(self) -> None:
        self._pruning.stop()

    def limit_lock(self, owner: Owner) -> threading.Lock:
        return self._limit_lock

    def destroy(self, sid: str) -> None:
        with self._lock:
            self._drop(sid)

    def touch(self, sid: str, session: Record) -> None:
        """Replace the stored cookie (and so the expiry), leaving the data alone."""
        with self._lock:
            entry = self._live(sid)
            if entry is not None:
                text = record.with_cookie(entry.text, session["cookie"])
                self._store(sid, _Entry(text, self._expires_at(session)))

    def all(self) -> dict[str, Record]:
        with self._lock:
            self._sweep()
            texts = [(sid, entry.text) for sid, entry in self._entries.items()]
        # Decoded outside the lock: a listing (``sessions_of``) of many sessions must
        # not hold up every request of the process meanwhile.
        return {sid: record.loads(text) for sid, text in texts}

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._blank.clear()
            self._expiry_heap.clear()

    def length(self) -> int:
        with self._lock:
            self._sweep()
            return len(self._entries)

    def prune(self, *, dry_run: bool = False, progress: Callable[[int], None] | None = None) -> int:
        with self._lock:
            if dry_run:
                now = now_ms()
                return sum(entry.expires_at <= now for entry in self._entries.values())
            return self._sweep()

    # -- safe writes ----------------------------------------------------------------------

    def read(self, sid: str, *, touch: bool = False) -> Versioned | None:
        with self._lock:
            entry = self._live(sid)
            if entry is None:
                return None
            self._entries.move_to_end(sid)
            if sid in self._blank:
                self._blank.move_to_end(sid)
            text = entry.text
        return Versioned(record.loads(text), version=text, expires_at=entry.expires_at)

    def fresh_expiry(self, session: Record) -> int:
        return self._expires_at(session)

    def create(self, sid: str, session: Record) -> None:
        with self._lock:
            if self._live(sid) is not None:
                raise CreateError(sid)
            self._put(sid, session)

    def replace(self, sid: str, session: Record, version: Any) -> bool:
        with self._lock:
            entry = self._live(sid)
            if entry is None or entry.text != version:
                return False
            self._put(sid, session)
            return True

    # -- internals (called with the lock held) --------------------------------------------

    def _expires_at(self, session: Record) -> int:
        """memorystore's rule: a numeric ``ttl`` wins, else the cookie, else one day."""
        now = now_ms()
        if self.options.ttl_ms is not None:
            return now + int(self.options.ttl_ms)
        expires = record.expires_ms(session)
        return expires if expires is not None else now + DAY_MS

    def _live(self, sid: str) -> _Entry | None:
        entry = self._entries.get(sid)
        if entry is not None and entry.expires_at <= now_ms():
            self._drop(sid)
            return None
        return entry

    def _drop(self, sid: str) -> None:
        self._entries.pop(sid, None)
        self._blank.pop(sid, None)

    def _put(self, sid: str, session: Record) -> None:
        entry = _Entry(record.dumps(session), self._expires_at(session))
        self._store(sid, entry, blank=session.keys() <= {"cookie"})

    def _store(self, sid: str, entry: _Entry, *, blank: bool | None = None) -> None:
        expires_at = entry.expires_at
        self._entries[sid] = entry
        self._entries.move_to_end(sid)
        if blank is None:  # a touch: the data, and so its blankness, is unchanged
            blank = sid in self._blank
        if blank:
            self._blank[sid] = None
            self._blank.move_to_end(sid)
        else:
            self._blank.pop(sid, None)
        heapq.heappush(self._expiry_heap, (expires_at, next(self._sequence), sid))
        self._sweep()
        while len(self._entries) > self.max:
            # The least recently used session without data, else the least recently used.
            victim = next(iter(self._blank)) if self._blank else next(iter(self._entries))
            self._drop(victim)

    def _sweep(self) -> int:
        """Drop entries whose time has passed; return how many."""
        now = now_ms()
        heap = self._expiry_heap
        removed = 0
        while heap and heap[0][0] <= now:
            expires_at, _, sid = heapq.heappop(heap)
            entry = self._entries.get(sid)
            if entry is not None and entry.expires_at == expires_at:
                self._drop(sid)
                removed += 1
        # Touches leave stale heap items behind; rebuild before they outgrow the entries.
        if len(heap) > 2 * len(self._entries) + 1024:
            self._expiry_heap = [
                (entry.expires_at, next(self._sequence), sid)
                for sid, entry in self._entries.items()
            ]
            heapq.heapify(self._expiry_heap)
        return removed
