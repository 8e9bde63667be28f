"""The operations a plan asks a store to perform, and what a read returns.

An operation names one store primitive and its arguments; ``drive`` turns it into
``store.read(...)`` or ``await store.aread(...)``. ``Sleep`` is the back-off between
compare-and-set attempts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

Record = dict[str, Any]


class Versioned(NamedTuple):
    """A record as read, with the token ``replace`` compares against."""

    record: Record
    version: Any = None
    #: True when the read also refreshed the store-level expiry (saves a round trip).
    touched: bool = False


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
