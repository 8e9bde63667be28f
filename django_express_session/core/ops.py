"""The operations a plan asks a store to perform, and what a read returns.

An operation names one store primitive and its arguments; ``drive`` turns it into
``store.read(...)`` or ``await store.aread(...)``. ``Sleep`` is the back-off between
compare-and-set attempts, and ``Exclusive`` runs a sub-plan under a per-key lock of this
process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

Record = dict[str, Any]


class Versioned(NamedTuple):
    """A record as read, with the token ``replace`` compares against."""

    record: Record
    version: Any = None
    #: True when the read also refreshed the store-level expiry (saves a round trip).
    touched: bool = False
    #: The store-level expiry as the store holds it after this read (epoch ms), or None
    #: when the store cannot say. ``touchAfter`` compares it with a fresh expiry.
    expires_at: int | None = None
    #: When the store last wrote or touched the record (epoch ms), for the stores that
    #: keep it (session-file-store's ``__lastAccess``, connect-mongo's ``lastModified``).
    touched_at: int | None = None


@dataclass(frozen=True)
class Op:
    """A call of the store primitive ``method`` (its async twin is ``"a" + method``)."""

    method: str
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()


def read(sid: str, *, touch: bool = False) -> Op:
    return Op("read", (sid,), (("touch", touch),))


def create(sid: str, record: Record) -> Op:
    return Op("create", (sid, record))


def replace(sid: str, record: Record, version: Any) -> Op:
    return Op("replace", (sid, record, version))


def destroy(sid: str) -> Op:
    return Op("destroy", (sid,))


def touch(sid: str, record: Record) -> Op:
    return Op("touch", (sid, record))


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Exclusive:
    """Run the plan ``make_plan(waited)`` while holding this process's lock for ``key``
    (a thread lock under ``run``, an asyncio lock per event loop under ``arun``);
    ``waited`` says whether another holder had it first. The plan's result, or its
    exception, is this operation's."""

    key: Any
    make_plan: Callable[[bool], Any]
