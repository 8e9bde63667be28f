"""The two clocks of a session, in one unit (epoch milliseconds), and the clock itself.

The *idle* clock is the store-level expiry that a touch moves; ``touchAfter`` says when
refreshing an unmodified session's expiry is worth a write. The *absolute* clock starts
when the session does (or at login, with ``absoluteMaxAgeFrom: "login"``) and ends it
``absoluteMaxAge`` later whatever its activity. Its start is the record's
``"djangoExpressSession": {"startedAt": <epoch ms>}`` (``state.OWN_KEY``), which Node
apps carry through untouched.

Every rule about either clock lives here, over plain values: the session, the
decision, ``track`` and the stores ask a ``Lifetime``, built once from the options.
``clock`` is the one source of "now" for all of them, so tests advance it instead of
sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from .state import OWN_KEY, own_moment

#: How often ``track`` records a visit when ``touchAfter`` does not say (ms).
DEFAULT_VISIT_INTERVAL_MS = 300_000


class Clock:
    """The wall clock in epoch milliseconds. Tests move it forward with ``advance``
    (the stores' own clocks, a server's TTL, do not follow)."""

    __slots__ = ("offset_ms",)

    def __init__(self) -> None:
        self.offset_ms = 0

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.offset_ms

    def now(self) -> datetime:
        """Now as an aware UTC datetime (a cookie's ``expires``)."""
        return datetime.now(timezone.utc) + timedelta(milliseconds=self.offset_ms)

    def advance(self, ms: int) -> None:
        self.offset_ms += ms

    def reset(self) -> None:
        self.offset_ms = 0


#: The process's clock (one, so a store and the session never disagree on "now").
clock = Clock()


def now_ms() -> int:
    return clock.now_ms()


def started_at(record: Mapping[str, Any]) -> int | None:
    """When the session's absolute clock started (epoch ms), as the record says."""
    value = record.get(OWN_KEY)
    return own_moment(value if isinstance(value, Mapping) else None, "startedAt")


def cap_at(started: int | None, absolute_max_age_ms: int | None) -> int | None:
    """When the session must end whatever its activity (epoch ms), or None."""
    if absolute_max_age_ms is None or started is None:
        return None
    return started + absolute_max_age_ms


def past_cap(cap: int | None, now: int) -> bool:
    return cap is not None and now >= cap


#: The moments a ``datetime`` can show (0001-01-01 to 9999-12-31T23:59:59.999Z), in ms.
EARLIEST_MS = -62_135_596_800_000
LATEST_MS = 253_402_300_799_999
#: How far ahead of this server's clock a start may be: another server's clock (the
#: Express app's) may run a little ahead.
CLOCK_SKEW_MS = 300_000


def start_refused(started: int | None, now: int) -> bool:
    """A start the cap cannot be measured from: no moment a date can show (a JavaScript
    date reaches 8.64e15 ms, a stored number anything), or later than now. Counting the
    cap from it would end the session never, or fail; the session ends instead, the safe
    side for a cap."""
    return started is not None and not EARLIEST_MS <= started <= now + CLOCK_SKEW_MS


def capped(expires_at: int | None, cap: int | None) -> int | None:
    """An expiry that never runs past the cap; a browser-session cookie (None) gets the
    cap itself, so the browser forgets the cookie when the server does."""
    if cap is None:
        return expires_at
    return cap if expires_at is None else min(expires_at, cap)


def ends_at(idle_end: int | None, cap: int | None) -> int | None:
    """When the session ends by whichever clock comes first (None: neither runs)."""
    ends = [moment for moment in (idle_end, cap) if moment is not None]
    return min(ends) if ends else None


def seconds_until(moment: int | None, now: int) -> int | None:
    """Whole seconds left until ``moment`` (never negative), or None."""
    return None if moment is None else max(0, (moment - now) // 1000)


def touch_due(
    touch_after_ms: int,
    *,
    now: int,
    fresh: int | None,
    held: int | None,
    touched_at: int | None,
) -> bool:
    """``touchAfter``: refresh an unmodified session's store-level expiry (``held``)
    only when the last refresh is at least that old. The store says when that was
    (``touched_at``: its last write or touch), or it is derived from the expiry it
    holds against the one a touch would give now (``fresh``). Without ``touchAfter``,
    or when the store cannot say, every request touches (express)."""
    if touch_after_ms <= 0:
        return True
    if fresh is not None and held is not None and fresh <= held:
        return False  # nothing to extend (the absolute cap holds the expiry)
    if touched_at is not None:
        return now - touched_at >= touch_after_ms
    if fresh is None or held is None:
        return True
    return fresh - held >= touch_after_ms


def refreshed_at(
    *, now: int, fresh: int | None, held: int | None, touched_at: int | None
) -> int | None:
    """When the store last refreshed a session's expiry, as a read tells it (the inverse
    of ``touch_due``): the write or touch the store remembers (``touched_at``), else the
    moment its expiry (``held``) was given, a touch now giving ``fresh``; None when
    the read cannot say."""
    if touched_at is not None:
        return touched_at
    if fresh is None or held is None:
        return None
    return now - (fresh - held)


class RecentRefreshes:
    """When this process last saw the store refresh each session's expiry (a write, a
    touch, or a read that touched), for the last ``limit`` sessions it served.

    Under ``touchAfter`` a request that comes less than that after such a moment owes
    the store no touch: the store's own last refresh is that moment or later (another
    process, an Express app). If its view then never uses the session, the record need
    not even be read (``opening.defers_loading``)."""

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self._at: dict[str, int] = {}
        self._lock = threading.Lock()

    def saw(self, sid: str, moment: int) -> None:
        with self._lock:
            self._at.pop(sid, None)  # re-inserted last: the oldest goes first
            self._at[sid] = moment
            if len(self._at) > self.limit:
                del self._at[next(iter(self._at))]

    def forget(self, sid: str) -> None:
        with self._lock:
            self._at.pop(sid, None)

    def spares(self, sid: str, now: int, touch_after_ms: int) -> bool:
        """A touch of ``sid`` is not due at ``now``, by what this process saw."""
        moment = self._at.get(sid)
        return moment is not None and now - moment < touch_after_ms


def seconds_to_ms(seconds: float) -> int:
    """An option given in seconds (``touchAfter``), in this module's unit."""
    return int(seconds * 1000)


@dataclass(frozen=True, slots=True)
class Lifetime:
    """The lifetime options, in ms, and the rules that read them."""

    #: ``touchAfter`` (0: off, every request touches as in express).
    touch_after_ms: int = 0
    #: ``absoluteMaxAge`` (None: no cap).
    absolute_max_age_ms: int | None = None
    #: ``absoluteMaxAgeFrom``: what starts the absolute clock, ``"start"`` or ``"login"``.
    absolute_from: str = "start"
    #: ``cookie.maxAge``, whole ms: the ``originalMaxAge`` of the records this app writes
    #: (None: not a number). A store may set the idle TTL it implies before it has read
    #: a record, and correct it for a record that carries another one.
    max_age_ms: int | None = None

    @property
    def restarts_at_login(self) -> bool:
        return self.absolute_max_age_ms is not None and self.absolute_from == "login"

    def cap_at(self, started: int | None) -> int | None:
        return cap_at(started, self.absolute_max_age_ms)

    def cap_of(self, record: Mapping[str, Any]) -> int | None:
        """The cap of a stored record (None: no cap, or the record has no start)."""
        return cap_at(started_at(record), self.absolute_max_age_ms)

    def past_cap(self, record: Mapping[str, Any], now: int) -> bool:
        """The record's session has reached its cap, or its start is refused."""
        if self.absolute_max_age_ms is None:
            return False
        started = started_at(record)
        return start_refused(started, now) or past_cap(
            cap_at(started, self.absolute_max_age_ms), now
        )

    def capped(self, expires_at: int | None, record: Mapping[str, Any]) -> int | None:
        """A record's expiry, never past its cap."""
        return capped(expires_at, self.cap_of(record))

    def touch_due(
        self, *, now: int, fresh: int | None, held: int | None, touched_at: int | None
    ) -> bool:
        return touch_due(
            self.touch_after_ms, now=now, fresh=fresh, held=held, touched_at=touched_at
        )

    def touched_recently(self, touched_at: int | None, now: int) -> bool:
        """connect-mongo's lazy touch: under ``touchAfter``, a record written or touched
        less than that long ago is left as it is."""
        return (
            bool(self.touch_after_ms)
            and touched_at is not None
            and (now - touched_at < self.touch_after_ms)
        )

    def started(self, own: Mapping[str, Any] | None, now: int) -> dict[str, Any] | None:
        """The record's ``OWN_KEY`` dict with the absolute clock started at ``now``
        (unchanged without ``absoluteMaxAge``: the record then gets no key of ours)."""
        if self.absolute_max_age_ms is None:
            return None if own is None else dict(own)
        return {**(own or {}), "startedAt": now}

    def visit_interval_ms(self) -> int:
        """How old ``track``'s ``lastSeenAt`` may get before a request that changes
        nothing writes it: ``touchAfter`` when it is on (the store is refreshed at that
        pace anyway), else ``DEFAULT_VISIT_INTERVAL_MS``."""
        return self.touch_after_ms or DEFAULT_VISIT_INTERVAL_MS
