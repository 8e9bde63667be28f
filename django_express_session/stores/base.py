"""The store protocol every backend implements (express-session's ``session/store.js``).

A store keeps records (``{"cookie": {...}, **data}``, see ``record``) under session ids,
in the layout of the matching express store so Node can read them. It implements five
primitives, each one round trip where the backend allows:

* ``read(sid, touch=False)``: the live record and a *version* token, or None;
* ``create(sid, record)``: write a new record, never overwriting (``CreateError``);
* ``replace(sid, record, version)``: a compare-and-set, False if the stored record is no
  longer at ``version`` (or gone: a destroyed session is never brought back);
* ``destroy(sid)``: remove the record (no error if it is gone);
* ``touch(sid, record)``: refresh the store-level expiry of an unmodified session,
  never recreating it.

The optional bulk methods ``all``, ``clear``, ``length``, ``prune``, ``sessions_of``
and ``reindex`` see live records only. Everything built on the primitives lives in the
session core, once: merging one request's changes onto the latest record, retrying a
compare-and-set, taking a new id on a collision. Every primitive has an ``a*`` twin. By
default the twins run the plain method in a worker thread (``thread_sensitive`` picks
Django's shared thread, which database connections need); a store whose sync methods
do no I/O sets ``blocking = False`` and is called directly, and a store with a native
asyncio client sets ``native_async = True`` and overrides the twins. A store may instead
write each method once, as a plan of its own operations, over ``PlanStore``, which
defines the public methods and their twins.

The session core drives a store through ``core.ops.Performer``: ``perform(op)`` and
``aperform(op)`` answer each operation with the matching method.

An express-style store that only has ``get``/``set``/``destroy`` is wrapped by
``ExpressStyleStore``, which is last-writer-wins.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from typing import Any, ClassVar, TypeVar

from asgiref.sync import sync_to_async

from ..core import plans
from ..core.drive import arun, run
from ..core.lifetime import Lifetime
from ..core.limit import Trimmed, choose, last_used_ms
from ..core.ops import (
    All,
    Clear,
    Create,
    Destroy,
    Length,
    Op,
    Plan,
    Prune,
    Read,
    Replace,
    SessionsOf,
    Touch,
    Versioned,
)
from ..exceptions import CreateError
from ..owner import Owner
from ..record import Record, expires_ms, now_ms
from ..validation import StoreOptions, check_known, parse_store_options
from .resources import Lazy, PeriodicPrune, PerLoop

__all__ = [
    "ExpressStyleStore",
    "Lazy",
    "PerLoop",
    "PeriodicPrune",
    "PlanStore",
    "Store",
    "Versioned",
]

logger = logging.getLogger("django_express_session")

T = TypeVar("T")
Progress = Callable[[int], None]

#: A store built without a lifetime: no ``touchAfter``, no absolute cap.
NO_LIFETIME = Lifetime()


class Store:
    """Base class of all session stores."""

    #: Short name used in messages (``"redis"``, ``"file"``...).
    name: ClassVar[str] = "custom"
    #: How the store fails, in the log line of a 503 ("the redis session store is
    #: unreachable: ...").
    failure: ClassVar[str] = "is unreachable"
    #: Exceptions of the backend's client that mean "cannot reach the store". The session
    #: layer turns them into ``StoreUnavailable`` (a 503, never a logout).
    connection_errors: ClassVar[tuple[type[BaseException], ...]] = (ConnectionError, TimeoutError)
    #: Whether the sync methods block on I/O (the async twins then run them in a thread).
    blocking: ClassVar[bool] = True
    #: Run blocking calls in Django's shared thread (for Django database connections).
    thread_sensitive: ClassVar[bool] = False
    #: Keys the backend's express store adds to a record for its own bookkeeping
    #: (session-file-store's ``__lastAccess``, connect-mongo's ``lastModified``): kept
    #: on every write, but not part of the session's data as Django code sees it.
    metadata_keys: ClassVar[frozenset[str]] = frozenset()
    #: The session's two clocks (``touchAfter``, ``absoluteMaxAge``), given when the
    #: store is built (``from_options(options, lifetime=...)``; by default neither
    #: runs). A store whose read refreshes the expiry itself (Redis) applies them there;
    #: the session core applies them otherwise.
    lifetime: Lifetime = NO_LIFETIME
    #: The frozen dataclass of the store's options (``validation.option`` fields), or
    #: None for a store that takes them as keyword-only parameters.
    Options: ClassVar[type[StoreOptions] | None] = None
    #: ``read(touch=True)`` refreshes the expiry in the same round trip.
    touches_on_read: ClassVar[bool] = False

    @property
    def native_async(self) -> bool:
        """The ``a*`` methods are native asyncio: async requests use them directly. A
        store says so with ``native_async = True``, or a property when it depends on
        its client."""
        return False

    # -- construction ---------------------------------------------------------------------

    def __init__(
        self, options: StoreOptions | None = None, *, lifetime: Lifetime = NO_LIFETIME
    ) -> None:
        """``options``: the store's ``Options`` object (its defaults when None; None for
        a store without one); ``lifetime``: the session's clocks."""
        if options is None and self.Options is not None:
            options = self.Options()
        self.options = options
        self.lifetime = lifetime
        self._setup()

    def _setup(self) -> None:
        """What the store makes of its options when it is built (connections stay lazy:
        building a store opens none)."""

    @classmethod
    def from_options(cls, options: Mapping[str, Any], *, lifetime: Lifetime | None = None) -> Store:
        """Build the store from ``EXPRESS_SESSION["store"]["options"]`` (Node's names)
        and the session's ``lifetime``; a bad or unknown key is an
        ``ImproperlyConfigured`` that names it.

        A built-in store declares its options as a frozen dataclass (``Options``, parsed
        by ``validation.parse_store_options``) and its constructor takes the parsed
        object and the lifetime. A custom store may instead take its options as
        keyword-only parameters (and the lifetime as its ``lifetime`` keyword, or gets
        it as its attribute)."""
        lifetime = NO_LIFETIME if lifetime is None else lifetime
        if cls.Options is not None:
            build: Callable[..., Store] = cls  # the constructor of Options-based stores
            return build(parse_store_options(cls.Options, options), lifetime=lifetime)
        parameters = inspect.signature(cls.__init__).parameters
        check_known(
            cls.name,
            options,
            sorted(
                name
                for name, parameter in parameters.items()
                if name not in ("self", "lifetime")
                and parameter.kind is inspect.Parameter.KEYWORD_ONLY
            ),
        )
        if "lifetime" in parameters:
            return cls(**options, lifetime=lifetime)
        store = cls(**options)
        store.lifetime = lifetime
        return store

    @property
    def touch_after(self) -> float:
        """``touchAfter`` in seconds, the option's unit (0: every request touches)."""
        return self.lifetime.touch_after_ms / 1000

    def close(self) -> None:
        """Release connections and timers (settings changed, or shutdown)."""

    # -- the five primitives --------------------------------------------------------------

    def read(self, sid: str, *, touch: bool = False) -> Versioned | None:
        """The live record of ``sid`` with a version token, or None. A record that cannot
        be decoded raises ``CorruptRecord``. With ``touch``, a store that can refresh the
        expiry in the same round trip does so and says ``touched=True``."""
        raise NotImplementedError(f"{type(self).__name__} must implement read()")

    def create(self, sid: str, session: Record) -> None:
        """Write a new record; ``CreateError`` if ``sid`` is taken."""
        raise NotImplementedError(f"{type(self).__name__} must implement create()")

    def replace(self, sid: str, session: Record, version: Any) -> bool:
        """Write ``session`` only if the stored record is still at ``version``."""
        raise NotImplementedError(f"{type(self).__name__} must implement replace()")

    def destroy(self, sid: str) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement destroy()")

    def touch(self, sid: str, session: Record) -> None:
        """Refresh the store-level expiry of an unmodified session (never recreate it)."""
        raise NotImplementedError(f"{type(self).__name__} must implement touch()")

    # -- optional bulk methods (live records only) ----------------------------------------

    def all(self) -> dict[str, Record]:
        raise NotImplementedError(f"the {self.name} store cannot list sessions")

    def clear(self) -> None:
        raise NotImplementedError(f"the {self.name} store cannot clear sessions")

    def length(self) -> int:
        raise NotImplementedError(f"the {self.name} store cannot count sessions")

    def prune(self, *, dry_run: bool = False, progress: Progress | None = None) -> int | None:
        """Delete expired records (``manage.py clearsessions``); return how many, or None
        when the backend expires records by itself and there is nothing to do.

        With ``dry_run``, count what would be deleted and delete nothing. ``progress`` is
        called with the running total as batches complete.
        """
        return None

    def sessions_of(self, owner: Owner, *, thorough: bool = False) -> dict[str, Record]:
        """The live records ``owner`` is logged in to, by id. This default scans
        ``all()``; a store with a per-user index overrides it. ``thorough`` asks for the
        records the index may not list yet too (written by Node, which keeps no index),
        at the price of a scan: ``logout_everywhere`` wants every one."""
        return self.owned_live(owner, self.all().items())

    def owned_live(self, owner: Owner, records: Iterable[tuple[str, Record]]) -> dict[str, Record]:
        """The records of ``records`` that ``owner`` is logged in to, those past their
        absolute cap included: the session layer ends such a record at its next read,
        but an Express app without the cap would still serve it, so ``logout_everywhere``
        must find it (the listings leave it out: ``past_cap``)."""
        return {sid: record for sid, record in records if owner.owns(record)}

    def past_cap(self, session: Record, now: int) -> bool:
        """Whether ``session`` has reached its absolute cap at ``now`` (epoch ms)."""
        return self.lifetime.past_cap(session, now)

    def trim_sessions(self, owner: Owner, keep: str, limit: int, policy: str) -> Trimmed:
        """Enforce ``maxSessionsPerUser`` after the login ``keep`` was stored: over
        ``limit``, delete ``keep`` (``policy`` ``"refuse"``) or the least recently used of
        ``owner``'s other sessions (``"endOldest"``), by ``core.limit.choose``. Two such
        calls for one owner must not interleave, or two simultaneous logins could both
        stay past the limit: this default holds ``limit_lock`` for the whole listing
        and deletion; a store with one atomic command (Redis) overrides it."""
        with self.limit_lock(owner):
            records = self.sessions_of(owner)
            if keep not in records and (found := self.read(keep)) and owner.owns(found.record):
                records[keep] = found.record  # not in an index yet (written by Node)
            trimmed = choose(
                {sid: last_used_ms(r) for sid, r in records.items()}, keep, limit, policy
            )
            for sid in (keep,) if trimmed.refused else trimmed.ended:
                self.destroy(sid)
        return trimmed

    def limit_lock(self, owner: Owner) -> AbstractContextManager[Any]:
        """What keeps two ``trim_sessions`` of ``owner`` apart: none by default (the
        documentation says which stores hold one); the memory store's is a lock of its
        process, the database store's a transaction (with an advisory lock on
        PostgreSQL)."""
        return nullcontext()

    async def atrim_sessions(self, owner: Owner, keep: str, limit: int, policy: str) -> Trimmed:
        return await self._in_thread(self.trim_sessions, owner, keep, limit, policy)

    def reindex(self, *, dry_run: bool = False, progress: Progress | None = None) -> int | None:
        """Rebuild the per-user index from the records (``manage.py reindexsessions``);
        return how many entries were added or removed, or None when the store keeps no
        index that can drift."""
        return None

    # -- the performer the session core drives (``core.ops.Performer``) -----------------

    def perform(self, op: Op) -> Any:
        match op:
            case Read(sid, touch):
                return self.read(sid, touch=touch)
            case Create(sid, record):
                return self.create(sid, record)
            case Replace(sid, record, version):
                return self.replace(sid, record, version)
            case Destroy(sid):
                return self.destroy(sid)
            case Touch(sid, record):
                return self.touch(sid, record)
            case SessionsOf(owner, thorough):
                return self.sessions_of(owner, thorough=thorough)
            case All():
                return self.all()
            case Length():
                return self.length()
            case Clear():
                return self.clear()
            case Prune(dry_run, progress):
                return self.prune(dry_run=dry_run, progress=progress)
        return self._perform_own(op)

    async def aperform(self, op: Op) -> Any:
        match op:
            case Read(sid, touch):
                return await self.aread(sid, touch=touch)
            case Create(sid, record):
                return await self.acreate(sid, record)
            case Replace(sid, record, version):
                return await self.areplace(sid, record, version)
            case Destroy(sid):
                return await self.adestroy(sid)
            case Touch(sid, record):
                return await self.atouch(sid, record)
            case SessionsOf(owner, thorough):
                return await self.asessions_of(owner, thorough=thorough)
            case All():
                return await self.aall()
            case Length():
                return await self.alength()
            case Clear():
                return await self.aclear()
            case Prune(dry_run, progress):
                return await self.aprune(dry_run=dry_run, progress=progress)
        return await self._perform_own_async(op)

    def _perform_own(self, op: Op) -> Any:
        """An operation of the store's own (a ``PlanStore``'s statement or call)."""
        raise TypeError(f"the {self.name} store cannot perform {op!r}")

    async def _perform_own_async(self, op: Op) -> Any:
        """The same, in async code (with ``native_async``)."""
        raise TypeError(f"the {self.name} store cannot perform {op!r}")

    # -- express's get/set, for scripts and power users -----------------------------------

    def get(self, sid: str) -> Record | None:
        """express's ``get``: the live record, or None."""
        loaded = run(plans.load(sid, touch=False), self)
        return None if loaded is None else loaded.record

    def set(self, sid: str, session: Record) -> None:
        """express's ``set``: write the whole record, creating or replacing it (the last
        writer wins: sessions themselves are saved by merging, never by ``set``)."""
        run(plans.overwrite(sid, session), self)

    async def aget(self, sid: str) -> Record | None:
        loaded = await arun(plans.load(sid, touch=False), self)
        return None if loaded is None else loaded.record

    async def aset(self, sid: str, session: Record) -> None:
        await arun(plans.overwrite(sid, session), self)

    # -- async twins (a thread by default; native in stores that set native_async) --------

    async def _in_thread(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        call = partial(method, *args, **kwargs)
        if not self.blocking:
            return call()
        return await sync_to_async(call, thread_sensitive=self.thread_sensitive)()

    async def aread(self, sid: str, *, touch: bool = False) -> Versioned | None:
        return await self._in_thread(self.read, sid, touch=touch)

    async def acreate(self, sid: str, session: Record) -> None:
        await self._in_thread(self.create, sid, session)

    async def areplace(self, sid: str, session: Record, version: Any) -> bool:
        return await self._in_thread(self.replace, sid, session, version)

    async def adestroy(self, sid: str) -> None:
        await self._in_thread(self.destroy, sid)

    async def atouch(self, sid: str, session: Record) -> None:
        await self._in_thread(self.touch, sid, session)

    async def aall(self) -> dict[str, Record]:
        return await self._in_thread(self.all)

    async def asessions_of(self, owner: Owner, *, thorough: bool = False) -> dict[str, Record]:
        return await self._in_thread(self.sessions_of, owner, thorough=thorough)

    async def aclear(self) -> None:
        await self._in_thread(self.clear)

    async def alength(self) -> int:
        return await self._in_thread(self.length)

    async def aprune(
        self, *, dry_run: bool = False, progress: Progress | None = None
    ) -> int | None:
        return await self._in_thread(self.prune, dry_run=dry_run, progress=progress)

    # -- expiry helpers shared by the backends --------------------------------------------

    @staticmethod
    def ttl_seconds(session: Record, fallback: int | None) -> int | None:
        """connect-redis's rule, used by most stores: ``ceil((cookie.expires - now) / 1000)``
        when the cookie expires, else ``fallback``. Zero or less means "already expired"."""
        expires = expires_ms(session)
        if expires is None:
            return fallback
        return math.ceil((expires - now_ms()) / 1000)

    def fresh_expiry(self, session: Record) -> int | None:
        """The store-level expiry (epoch ms) that writing or touching ``session`` now
        would give, or None when unknown; ``touchAfter`` compares it with the expiry a
        read reported (``Versioned.expires_at``). By default ``cookie.expires``."""
        return expires_ms(session)

    def cap_of(self, session: Record) -> int | None:
        """The absolute cap of ``session`` (epoch ms), or None (``absoluteMaxAge`` off,
        or a record without a start)."""
        return self.lifetime.cap_of(session)

    @staticmethod
    def expires_at_ms(session: Record, fallback_seconds: int) -> int:
        """connect-mongo's and connect-pg-simple's rule: ``cookie.expires``, else now plus
        ``fallback_seconds``, as epoch milliseconds."""
        expires = expires_ms(session)
        return expires if expires is not None else now_ms() + fallback_seconds * 1000

    # -- the session policy (``policy``), kept beside the sessions -----------------------

    def read_policy(self, side: str) -> str | None:
        """The policy document ``side`` (``"django"`` or ``"express"``) published, or
        None. A store no other app can read (memory) keeps none."""
        return None

    def publish_policy(self, side: str, document: str) -> None:
        """Keep ``side``'s policy document (JSON text) where the other app reads it and
        where it never counts as a session: outside the sessions' prefix, table,
        collection or directory."""

    @staticmethod
    def policy_key(prefix: str, side: str) -> str:
        """Where a key-value store (Redis, memcached) keeps ``side``'s policy document: a
        key beside the sessions' ``prefix``, never under it (the Node package uses the
        same key)."""
        key = f"policy:{prefix}{side}"
        if prefix and key.startswith(prefix):
            raise ValueError(
                f"the policy key {key!r} would lie under the sessions' prefix {prefix!r}"
            )
        return key


class ExpressStyleStore(Store):
    """Adapts a store written express-style (``get``/``set``/``destroy``, optionally
    ``touch``, ``all``, ``clear``, ``length``) to the five primitives.

    **Last writer wins**: such a store has no compare-and-set, so ``create`` and
    ``replace`` are a read followed by a write, and two overlapping requests of one
    session can lose each other's changes (as every express store without atomic writes
    does). The ``django_express_session.W003`` system check says so when one is configured.
    Subclass it and implement ``get``/``set``/``destroy``.
    """

    def get(self, sid: str) -> Record | None:
        raise NotImplementedError(f"{type(self).__name__} must implement get()")

    def set(self, sid: str, session: Record) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement set()")

    async def aget(self, sid: str) -> Record | None:
        return await self._in_thread(self.get, sid)

    async def aset(self, sid: str, session: Record) -> None:
        await self._in_thread(self.set, sid, session)

    def read(self, sid: str, *, touch: bool = False) -> Versioned | None:
        session = self.get(sid)
        return None if session is None else Versioned(session)

    def create(self, sid: str, session: Record) -> None:
        if self.get(sid) is not None:
            raise CreateError(sid)
        self.set(sid, session)

    def replace(self, sid: str, session: Record, version: Any) -> bool:
        if self.get(sid) is None:
            return False
        self.set(sid, session)
        return True

    def touch(self, sid: str, session: Record) -> None:
        """express's optional ``touch``: without one, nothing is refreshed."""


class PlanStore(Store):
    """A store whose methods are each written once, as a plan of its own operations
    (a statement, a Redis call, a MongoDB command): ``_read``, ``_create``,
    ``_replace``, ``_destroy``, ``_touch``, ``_all``, ``_sessions_of``, ``_length``,
    ``_clear`` and ``_prune``. This base defines the public methods and their ``a*``
    twins once over those plans (httpcore's "write once", without generating code); the
    store performs its own operations in ``perform`` and, with ``native_async``, in
    ``aperform``.

    Called directly, a method raises what the backend's client raised; the session core
    turns the ``connection_errors`` among them into ``StoreUnavailable``."""

    def _planned(self, plan: Plan[T]) -> T:
        return run(plan, self, translate=False)

    async def _aplanned(self, plan: Plan[T]) -> T:
        return await arun(plan, self, translate=False)

    # -- what a store writes --------------------------------------------------------------

    def _read(self, sid: str, touch: bool) -> Plan[Versioned | None]:
        raise NotImplementedError(f"{type(self).__name__} must implement _read()")

    def _create(self, sid: str, session: Record) -> Plan[None]:
        raise NotImplementedError(f"{type(self).__name__} must implement _create()")

    def _replace(self, sid: str, session: Record, version: Any) -> Plan[bool]:
        raise NotImplementedError(f"{type(self).__name__} must implement _replace()")

    def _destroy(self, sid: str) -> Plan[None]:
        raise NotImplementedError(f"{type(self).__name__} must implement _destroy()")

    def _touch(self, sid: str, session: Record) -> Plan[None]:
        raise NotImplementedError(f"{type(self).__name__} must implement _touch()")

    def _all(self) -> Plan[dict[str, Record]]:
        raise NotImplementedError(f"the {self.name} store cannot list sessions")

    def _sessions_of(self, owner: Owner, thorough: bool) -> Plan[dict[str, Record]]:
        return self.owned_live(owner, (yield from self._all()).items())

    def _length(self) -> Plan[int]:
        raise NotImplementedError(f"the {self.name} store cannot count sessions")

    def _clear(self) -> Plan[None]:
        raise NotImplementedError(f"the {self.name} store cannot clear sessions")

    def _prune(self, dry_run: bool, progress: Progress | None) -> Plan[int | None]:
        return plans.answer(None)

    # -- the public methods, once ---------------------------------------------------------

    def read(self, sid: str, *, touch: bool = False) -> Versioned | None:
        return self._planned(self._read(sid, touch))

    async def aread(self, sid: str, *, touch: bool = False) -> Versioned | None:
        return await self._aplanned(self._read(sid, touch))

    def create(self, sid: str, session: Record) -> None:
        self._planned(self._create(sid, session))

    async def acreate(self, sid: str, session: Record) -> None:
        await self._aplanned(self._create(sid, session))

    def replace(self, sid: str, session: Record, version: Any) -> bool:
        return self._planned(self._replace(sid, session, version))

    async def areplace(self, sid: str, session: Record, version: Any) -> bool:
        return await self._aplanned(self._replace(sid, session, version))

    def destroy(self, sid: str) -> None:
        self._planned(self._destroy(sid))

    async def adestroy(self, sid: str) -> None:
        await self._aplanned(self._destroy(sid))

    def touch(self, sid: str, session: Record) -> None:
        self._planned(self._touch(sid, session))

    async def atouch(self, sid: str, session: Record) -> None:
        await self._aplanned(self._touch(sid, session))

    def all(self) -> dict[str, Record]:
        return self._planned(self._all())

    async def aall(self) -> dict[str, Record]:
        return await self._aplanned(self._all())

    def sessions_of(self, owner: Owner, *, thorough: bool = False) -> dict[str, Record]:
        return self._planned(self._sessions_of(owner, thorough))

    async def asessions_of(self, owner: Owner, *, thorough: bool = False) -> dict[str, Record]:
        return await self._aplanned(self._sessions_of(owner, thorough))

    def length(self) -> int:
        return self._planned(self._length())

    async def alength(self) -> int:
        return await self._aplanned(self._length())

    def clear(self) -> None:
        self._planned(self._clear())

    async def aclear(self) -> None:
        await self._aplanned(self._clear())

    def prune(self, *, dry_run: bool = False, progress: Progress | None = None) -> int | None:
        return self._planned(self._prune(dry_run, progress))

    async def aprune(
        self, *, dry_run: bool = False, progress: Progress | None = None
    ) -> int | None:
        return await self._aplanned(self._prune(dry_run, progress))
