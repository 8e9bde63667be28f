"""The store conversations of a session, written once (run by ``drive.run``/``arun``).

Each plan is a generator: it yields an operation, receives the result (or has the
operation's exception raised at the ``yield``), and returns its own result.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import TypeVar

from ..exceptions import (
    CorruptRecord,
    CreateError,
    InvalidSessionId,
    UpdateConflict,
    UpdateError,
)
from ..record import Changes, Record, sid_hint
from .ops import Create, Destroy, Exclusive, Plan, Read, Replace, Sleep, Touch, Versioned

logger = logging.getLogger("django_express_session")

T = TypeVar("T")

#: A custom genid that keeps returning ids in use gets this many tries.
CREATE_ATTEMPTS = 5
#: Compare-and-set attempts before ``UpdateConflict`` (a 503: someone is hammering).
UPDATE_ATTEMPTS = 20


def backoff(attempt: int) -> float:
    """Seconds to wait before compare-and-set attempt ``attempt + 1``: full jitter over
    an exponentially growing window (1 ms, 2 ms, 4 ms... capped at 64 ms), so that many
    overlapping writers of one session (an event loop serves them all at once) spread
    out instead of colliding again in step."""
    return random.uniform(0, min(0.064, 0.001 * 2**attempt))


def answer(value: T) -> Plan[T]:
    """A plan that asks nothing and returns ``value`` (a store with nothing to do)."""
    return value
    yield  # (a generator all the same)


def load(sid: str, *, touch: bool) -> Plan[Versioned | None]:
    """The live record of ``sid``; a record that cannot be decoded counts as missing."""
    try:
        return (yield Read(sid, touch))
    except CorruptRecord as error:
        logger.warning("session %s: %s; treated as missing", sid_hint(sid), error)
        return None


def create(
    sid: str, make_record: Callable[[], Record], new_id: Callable[[], str | None]
) -> Plan[str | None]:
    """Store a new session under ``sid``, or under a fresh id from ``new_id`` when that
    one is taken; return the id it was stored under, or None when none could be had
    (logged)."""
    for _ in range(CREATE_ATTEMPTS):
        try:
            yield Create(sid, make_record())
            return sid
        except CreateError:
            logger.warning("session id %s is already in use; generating another", sid_hint(sid))
            next_sid = new_id()
            if next_sid is None:
                return None  # new_id logged why
            sid = next_sid
        except InvalidSessionId as error:  # an id this store cannot hold (a custom genid)
            logger.error("%s: this session will not be saved", error)
            return None
    logger.error("genid keeps returning ids in use: this session will not be saved")
    return None


def update(sid: str, changes: Changes, known: Versioned | None) -> Plan[Record]:
    """Lay one request's ``changes`` over the latest record of ``sid`` with a
    compare-and-set, re-reading and retrying when another request wrote in between, so
    concurrent requests lose nothing. ``known`` is the record this request loaded: the
    first attempt trusts it and costs no read. ``UpdateError`` if the session is gone.

    Writers of one session in this process take turns (many overlap on one event loop);
    one that had to wait re-reads first, since what it loaded has surely changed. The
    compare-and-set still settles the races between processes."""
    return (yield Exclusive(("update", sid), lambda waited: _merge(sid, changes, known, waited)))


def _merge(sid: str, changes: Changes, known: Versioned | None, waited: bool) -> Plan[Record]:
    current = None if waited else known
    for attempt in range(UPDATE_ATTEMPTS):
        if current is None or attempt:
            current = yield Read(sid)
            if current is None:
                raise UpdateError(sid_hint(sid))
        merged = changes.apply(current.record)
        if (yield Replace(sid, merged, current.version)):
            return merged
        yield Sleep(backoff(attempt))
    raise UpdateConflict(f"session {sid_hint(sid)} kept changing under {UPDATE_ATTEMPTS} writes")


def overwrite(sid: str, session: Record) -> Plan[None]:
    """Write the whole record, creating or replacing it: express's ``set`` (last writer
    wins), for scripts and tests, never for a session's own save."""
    while True:
        try:
            current = yield Read(sid)
        except CorruptRecord:
            yield Destroy(sid)  # whatever is there goes: set() overwrites
            current = None
        if current is None:
            try:
                yield Create(sid, session)
                return
            except CreateError:
                continue  # created meanwhile: replace that one
        if (yield Replace(sid, session, current.version)):
            return


def destroy(sid: str) -> Plan[None]:
    yield Destroy(sid)


def touch(sid: str, session: Record) -> Plan[None]:
    yield Touch(sid, session)
