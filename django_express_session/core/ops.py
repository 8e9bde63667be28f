"""The operations a plan asks a store to perform, what a read returns, and the protocol of
what ``drive`` runs plans against.

An operation is a small frozen object, one class per kind: the five primitives
(``Read``, ``Create``, ``Replace``, ``Destroy``, ``Touch``), the bulk methods (``All``,
``SessionsOf``, ``Length``, ``Clear``, ``Prune``), ``Sleep`` (the back-off between
compare-and-set attempts) and ``Exclusive`` (a sub-plan under a per-key lock of this
process). A store may define operations of its own (a statement, a Redis call) as
subclasses of ``Op``: the ``Performer`` that yields them performs them with ``match``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, TypeVar

Record = dict[str, Any]
T = TypeVar("T")


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


class Op:
    """An operation a plan yields; the driver or the performer answers it."""

    __slots__ = ()


#: A conversation with a store, written once: a generator that yields operations,
#: receives each one's result (or has its exception raised at the ``yield``) and returns
#: its own result. ``drive.run`` and ``drive.arun`` perform it.
Plan = Generator[Op, Any, T]


@dataclass(frozen=True, slots=True)
class Read(Op):
    sid: str
    touch: bool = False


@dataclass(frozen=True, slots=True)
class Create(Op):
    sid: str
    record: Record


@dataclass(frozen=True, slots=True)
class Replace(Op):
    sid: str
    record: Record
    version: Any


@dataclass(frozen=True, slots=True)
class Destroy(Op):
    sid: str


@dataclass(frozen=True, slots=True)
class Touch(Op):
    sid: str
    record: Record


@dataclass(frozen=True, slots=True)
class All(Op):
    pass


@dataclass(frozen=True, slots=True)
class SessionsOf(Op):
    #: An ``owner.Owner`` (not imported: ``owner`` reads records, above the core).
    owner: Any
    thorough: bool = False


@dataclass(frozen=True, slots=True)
class Length(Op):
    pass


@dataclass(frozen=True, slots=True)
class Clear(Op):
    pass


@dataclass(frozen=True, slots=True)
class Prune(Op):
    dry_run: bool = False
    progress: Callable[[int], None] | None = None


@dataclass(frozen=True, slots=True)
class Sleep(Op):
    seconds: float


@dataclass(frozen=True, slots=True)
class Exclusive(Op):
    """Run the plan ``make_plan(waited)`` while holding this process's lock for ``key``
    (a thread lock under ``run``, an asyncio lock per event loop under ``arun``);
    ``waited`` says whether another holder had it first. The plan's result, or its
    exception, is this operation's."""

    key: Any
    make_plan: Callable[[bool], Plan[Any]]


class Performer(Protocol):
    """What ``drive.run``/``arun`` run a plan against: every ``Store``, and the
    adapters that add operations of their own to one (the migration's old engine).

    ``drive`` answers ``Sleep`` and ``Exclusive`` itself, and any other operation with
    ``perform(op)`` or ``await aperform(op)``."""

    #: Named in ``StoreUnavailable``'s message.
    @property
    def name(self) -> str: ...

    #: Errors of the backend's client that mean "cannot reach the store": a plan gets
    #: them as ``StoreUnavailable``.
    @property
    def connection_errors(self) -> tuple[type[BaseException], ...]: ...

    #: ``perform`` blocks on I/O: ``arun`` without ``native_async`` runs the whole plan
    #: in a worker thread (Django's shared one with ``thread_sensitive``).
    @property
    def blocking(self) -> bool: ...

    @property
    def thread_sensitive(self) -> bool: ...

    #: ``aperform`` is native asyncio: ``arun`` awaits it for each operation.
    @property
    def native_async(self) -> bool: ...

    def perform(self, op: Op) -> Any: ...

    async def aperform(self, op: Op) -> Any: ...
