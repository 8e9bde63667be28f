"""The per-user index of the Redis store: a set of session ids per user key, kept by
Django (connect-redis has none), updated after each write, dropped when stale, rebuilt
by ``reindex`` (``SCAN``), and kept for every writer by a listener of keyspace
notifications (``file_sessions``, ``catch_up``, the liveness key; see ``events``)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from ...core.ops import Plan, Versioned
from ...exceptions import CorruptRecord
from ...owner import USER_KEY_PATTERNS, Owner, index_terms
from ...record import Record, expires_ms, loads, original_max_age
from ..base import Progress
from .clients import Call, Client, ClientCall, Connection, InThread
from .layout import INDEX_HEADROOM, REPLACE, _bytes, _many_gets, _pipeline, _text, _ttl_of

# Add ARGV[1] to the index set KEYS[1] and keep the set at least ARGV[2] seconds more
# ("none": for good, for a member that never expires), never shortening its expiry:
# the set must outlive every member. Returns 1 if ARGV[1] was not a member yet.
INDEX_ADD = """
local existed = redis.call('EXISTS', KEYS[1]) == 1
local added = redis.call('SADD', KEYS[1], ARGV[1])
if ARGV[2] == 'none' then
  redis.call('PERSIST', KEYS[1])
else
  local ms = tonumber(ARGV[2]) * 1000
  local pttl = redis.call('PTTL', KEYS[1])
  if not existed or (pttl >= 0 and pttl < ms) then redis.call('PEXPIRE', KEYS[1], ms) end
end
return added
"""


# The write of a session and its filing in one round trip, as one script (on one server:
# the sets lie in other cluster slots than the session, so a cluster writes first and
# files after). KEYS[1] and ARGV[1..3] are REPLACE's; then ARGV[4] the session id,
# ARGV[5] INDEX_ADD's expiry, and ARGV[6] how many of KEYS[2..] are sets to add it to
# (the rest are sets to leave). Built from the two scripts both apps run, unchanged (the
# function's parameters stand for INDEX_ADD's KEYS and ARGV). The sets change only when
# the write took. Returns 0 (not written), 2 (written and filed).
REPLACE_AND_FILE = f"""
local function replace()
{_text(REPLACE)}
end
local function add(KEYS, ARGV)
{INDEX_ADD}
end
if replace() ~= 1 then return 0 end
local adding = tonumber(ARGV[6])
for i = 2, #KEYS do
  if i <= adding + 1 then add({{KEYS[i]}}, {{ARGV[4], ARGV[5]}})
  else redis.call('SREM', KEYS[i], ARGV[4]) end
end
return 2
""".encode()

# A session to file, read whole only when it is a string of at most ARGV[1] bytes (so a
# huge value or a key of another type under the prefix costs no more than this): its
# value and PTTL; -1 when the key is gone or no string, -2 when it is too long.
READ_TO_FILE = """
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind ~= 'string' then return -1 end
if redis.call('STRLEN', KEYS[1]) > tonumber(ARGV[1]) then return -2 end
return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}
"""

#: The longest record ``file_sessions`` reads (bytes): a session is a few hundred bytes;
#: anything longer than this is left for a thorough search.
MAX_FILED_BYTES = 1 << 20


@dataclass(frozen=True)
class Filing:
    """What ``file_sessions`` did: the sessions it read, the index entries that were
    new, and the keys it left alone (gone, not a string, too long, not a record)."""

    read: int
    new_entries: int
    skipped: int


# The most keys one MGET of a user's sessions asks for: a reply that a slow network can
# deliver within the store's ``timeout``.
MGET_BATCH = 1000


def index_expiry(ttl: int | None) -> int | str:
    """INDEX_ADD's expiry for a member kept ``ttl`` seconds (None: for good)."""
    return "none" if ttl is None else max(ttl, 1) * INDEX_HEADROOM


class UserIndex:
    """A user's sessions in a ``RedisStore`` (a mixin over ``RedisLayout`` and
    ``RedisClients``)."""

    def _queue_index(
        self,
        pipe: Any,
        sid: str,
        add: Collection[str],
        remove: Collection[str] = (),
        ttl: int | None = None,
    ) -> None:
        """Queue on ``pipe``: ``sid`` into the sets ``add`` (kept ``ttl`` seconds at
        least; None: for good) and out of the sets ``remove``."""
        expiry = index_expiry(ttl)
        for key in sorted(add):
            # (EVAL by name: redis-py's cluster pipelines refuse their eval() method.)
            pipe.execute_command("EVAL", INDEX_ADD, 1, key, sid, expiry)
        for key in sorted(remove):
            pipe.srem(key, sid)

    def _index_call(
        self,
        sid: str,
        add: Collection[str],
        remove: Collection[str] = (),
        ttl: int | None = None,
    ) -> ClientCall | None:
        """The index update after a write: one round trip, or None when nothing changes."""
        if not add and not remove:
            return None

        def call(c: Connection) -> Any:
            pipe = _pipeline(c.client)
            self._queue_index(pipe, sid, add, remove, ttl)
            return pipe.execute()

        return call

    @staticmethod
    def _index_may_lapse(known: Versioned, now: float) -> bool:
        """Whether a touch may have made the session outlive its index sets. The write
        that filed it (at ``cookie.expires - originalMaxAge``) kept them
        ``INDEX_HEADROOM`` times its TTL: until the touched expiry passes that, they
        need nothing. Unknown (a browser-session cookie, an expiry Redis keeps alone):
        they may. A session Node wrote is not filed by this (the identity bridge files
        it with the login it writes; ``reindex`` and a thorough search find the rest)."""
        # The expiry first: it settles most reads without looking for the user.
        expires, max_age = expires_ms(known.record), original_max_age(known.record)
        if (
            expires is not None
            and max_age is not None
            and known.expires_at is not None
            and known.expires_at <= expires + (INDEX_HEADROOM - 1) * max_age
        ):
            return False
        return bool(index_terms(known.record))

    def _checked_plan(self, listed: Mapping[str, Collection[str]]) -> Plan[tuple[dict, dict]]:
        """Look up the sessions ``listed`` (sid: the sets that list it), by MGET of up to
        ``MGET_BATCH`` keys (one per slot on a cluster). Returns the records some set
        rightly lists, and the stale entries (set: sids) whose session is gone,
        unreadable or now another's."""
        sids = sorted(listed)
        values: list[Any] = []
        for start in range(0, len(sids), MGET_BATCH):
            keys = [self.key(sid) for sid in sids[start : start + MGET_BATCH]]
            values += (yield Call(lambda c, keys=keys: _many_gets(c.client, keys))) or []
        found: dict[str, Record] = {}
        stale: dict[str, list[str]] = {}
        for sid, value in zip(sids, values, strict=True):
            record = None
            if value is not None:
                with contextlib.suppress(CorruptRecord):
                    record = loads(value)
            owners = frozenset() if record is None else self._index_keys(record)
            for key in listed[sid]:
                if record is not None and key in owners:
                    found[sid] = record
                else:
                    stale.setdefault(key, []).append(sid)
        return found, stale

    @staticmethod
    def _drop_call(stale: Mapping[str, list[str]]) -> ClientCall | None:
        if not stale:
            return None

        def call(c: Connection) -> Any:
            pipe = _pipeline(c.client)
            for key, sids in stale.items():
                pipe.srem(key, *sids)
            return pipe.execute()

        return call

    def _members_plan(self, keys: list[str]) -> Plan[dict[str, set[str]]]:
        """The members of the sets ``keys``: sid -> the sets that list it (one round trip)."""
        if not keys:
            return {}

        def call(c: Connection) -> Any:
            pipe = _pipeline(c.client)
            for key in keys:
                pipe.smembers(key)
            return pipe.execute()

        listed: dict[str, set[str]] = {}
        for key, members in zip(keys, (yield Call(call)), strict=True):
            for sid in members:
                listed.setdefault(_text(sid), set()).add(key)
        return listed

    def _indexed(self, owner: Owner) -> Plan[dict[str, Record]]:
        keys = sorted(self.index_key(term) for term in owner.index_terms())
        listed = yield from self._members_plan(keys)
        if not listed:
            return {}
        found, stale = yield from self._checked_plan(listed)
        yield Call(self._drop_call(stale))
        return found

    def _sessions_of(self, owner: Owner, thorough: bool) -> Plan[dict[str, Record]]:
        """The owner's sessions from the index: three round trips at most (the sets, the
        records, dropping stale entries). ``thorough`` also scans every session for the
        ones no set lists yet (written by Node) and files them (through the sync client,
        in a thread from async code, like ``all()``), unless a live listener keeps the
        index complete (``index_is_live``): then one round trip more, no scan."""
        found = yield from self._indexed(owner)
        if thorough and not (yield Call(lambda c: c.client.exists(self.liveness_key))):
            found.update((yield InThread(partial(self._unindexed, owner, found))))
        return self.owned_live(owner, found.items())

    # -- kept by a listener (``events``): the public side of the index ---------------------

    @property
    def liveness_key(self) -> str:
        """The key a listener keeps while it files every write as it happens, beside the
        sessions' prefix (under it only when the prefix is empty)."""
        return "sessionevents:" + self.options.prefix

    def mark_index_live(self, seconds: int) -> None:
        """Say for ``seconds`` that the index lists every session (a listener that has
        caught up says so again before that runs out)."""
        self.redis.set(self.liveness_key, "1", ex=seconds)

    def mark_index_unsure(self) -> None:
        self.redis.delete(self.liveness_key)

    def index_is_live(self) -> bool:
        return bool(self.redis.exists(self.liveness_key))

    def file_sessions(self, sids: Collection[str], *, max_bytes: int = MAX_FILED_BYTES) -> Filing:
        """File the sessions ``sids`` under their owners' sets now, whoever wrote them,
        for as long as each one's TTL: two round trips whatever their number (one per
        node on a cluster). A key that is gone, is no string, is longer than
        ``max_bytes`` or holds no record is skipped, never an error."""
        if not sids:
            return Filing(0, 0, 0)
        client, sids = self.redis, list(sids)
        pipe = _pipeline(client)
        for sid in sids:
            pipe.execute_command("EVAL", READ_TO_FILE, 1, self.key(sid), max_bytes)
        answers = pipe.execute(raise_on_error=False)
        pipe, read, queued = _pipeline(client), 0, 0
        for sid, answer in zip(sids, answers, strict=True):
            if not isinstance(answer, list) or answer[0] is None:
                continue
            try:
                keys = self._index_keys(loads(answer[0]))
            except CorruptRecord:
                continue
            read += 1
            if keys:
                self._queue_index(pipe, sid, keys, ttl=_ttl_of(answer[1]))
                queued += 1
        new = sum(pipe.execute()) if queued else 0
        return Filing(read=read, new_entries=new, skipped=len(sids) - read)

    def catch_up(self, node: Client | None = None) -> Iterator[Filing]:
        """File every session, a ``SCAN`` batch at a time (each batch's ``Filing`` is
        yielded, so a listener can go on with its events in between): on ``node`` alone
        (a client of one server of a cluster), else everywhere."""
        for keys in self._scan_batches(self.redis if node is None else node):
            yield self.file_sessions([_text(key)[len(self.options.prefix) :] for key in keys])

    def _scanned(self, client: Client, patterns: Iterable[str]) -> Iterator[dict[str, Record]]:
        """By ``SCAN`` batch (one MGET each; one per slot on a cluster), the readable
        sessions whose JSON text matches one of ``patterns``: only those are parsed, and
        a record that cannot be decoded belongs to no one."""
        wanted = re.compile("|".join(patterns).encode())
        for keys in self._scan_batches(client):
            batch = {}
            for key, value in zip(keys, _many_gets(client, keys), strict=True):
                if value is None or not wanted.search(_bytes(value)):
                    continue  # expired since the scan, or no one's we look for
                with contextlib.suppress(CorruptRecord):
                    batch[_text(key)[len(self.options.prefix) :]] = loads(value)
            yield batch

    def _file(self, client: Client, sets: Mapping[str, frozenset[str]]) -> int:
        """File each session of ``sets`` (sid: its sets) for as long as its TTL (one
        pipeline of PTTLs, one of additions); return how many entries were new."""
        pipe = _pipeline(client)
        for sid in sets:
            pipe.pttl(self.key(sid))
        ttls = pipe.execute()
        pipe = _pipeline(client)
        for (sid, keys), pttl in zip(sets.items(), ttls, strict=True):
            if pttl != -2:  # gone since it was read
                self._queue_index(pipe, sid, keys, ttl=_ttl_of(pttl))
        return sum(pipe.execute())

    def _unindexed(self, owner: Owner, listed: Collection[str]) -> dict[str, Record]:
        """The owner's sessions not in ``listed``, by scanning them all; they are filed
        on the way, so the next plain ``sessions_of`` lists them."""
        client, found = self.redis, {}
        mine = frozenset(self.index_key(term) for term in owner.index_terms())
        for batch in self._scanned(client, owner.json_patterns()):
            sets = {}
            for sid, record in batch.items():
                keys = self._index_keys(record) & mine
                if keys and sid not in listed:
                    found[sid] = record
                    sets[sid] = keys
            if sets:
                self._file(client, sets)
        return found

    def reindex(self, *, dry_run: bool = False, progress: Progress | None = None) -> int:
        """File every session under its owners' sets (records Node wrote, sets that
        expired before a member Node touched), then drop the set entries whose session
        is gone or another's. Returns how many entries were added and removed; with
        ``dry_run``, how many would be. ``progress`` gets the running count."""
        client, changed = self.redis, 0
        for batch in self._scanned(client, USER_KEY_PATTERNS):
            sets = {
                sid: keys for sid, record in batch.items() if (keys := self._index_keys(record))
            }
            if not sets:
                continue
            if dry_run:
                pipe = _pipeline(client)
                for sid, keys in sets.items():
                    for key in sorted(keys):
                        pipe.sismember(key, sid)
                changed += sum(1 for member in pipe.execute() if not member)
            else:
                changed += self._file(client, sets)
            if progress is not None:
                progress(changed)
        for keys in self._scan_batches(client, self.options.index_prefix):
            listed = self._planned(self._members_plan([_text(key) for key in keys]))
            _, stale = self._planned(self._checked_plan(listed)) if listed else ({}, {})
            changed += sum(len(sids) for sids in stale.values())
            if not dry_run:
                self._send(self._drop_call(stale))
            if progress is not None:
                progress(changed)
        return changed
