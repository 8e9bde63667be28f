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
asyncio client sets ``native_async = True`` and overrides the twins.

An express-style store that only has ``get``/``set``/``destroy`` is wrapped by
``ExpressStyleStore``, which is last-writer-wins.
"""

from __future__ import annotations

import inspect
import logging
import math
import threading
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any, ClassVar, Generic, TypeVar

from asgiref.sync import sync_to_async
from django.core.exceptions import ImproperlyConfigured

from ..core import plans
from ..core.decide import cap_at
from ..core.drive import arun, run
from ..core.ops import Versioned
from ..core.state import started_at
from ..exceptions import CreateError
from ..owner import Owner
from ..record import Record, expires_ms, now_ms
from ..validation import (  # noqa: F401 (the stores' option checks live there)
    check_bool,
    check_choice,
    check_number,
    check_str,
    option_error,
)

__all__ = ["ExpressStyleStore", "Lazy", "PeriodicPrune", "Store", "Versioned"]

logger = logging.getLogger("django_express_session")

T = TypeVar("T")
Progress = Callable[[int], None]


class Store:
    """Base class of all session stores."""

    #: Short name used in messages (``"redis"``, ``"file"``...).
    name: ClassVar[str] = "custom"
    #: Exceptions of the backend's client that mean "cannot reach the store". The session
    #: layer turns them into ``StoreUnavailable`` (a 503, never a logout).
    connection_errors: ClassVar[tuple[type[BaseException], ...]] = (ConnectionError, TimeoutError)
    #: Whether the sync methods block on I/O (the async twins then run them in a thread).
    blocking: ClassVar[bool] = True
    #: Run blocking calls in Django's shared thread (for Django database connections).
    thread_sensitive: ClassVar[bool] = False
    #: The ``a*`` primitives are native asyncio: async requests use them directly.
    native_async: ClassVar[bool] = False
    #: Keys the backend's express store adds to a record for its own bookkeeping
    #: (session-file-store's ``__lastAccess``, connect-mongo's ``lastModified``): kept
    #: on every write, but not part of the session's data as Django code sees it.
    metadata_keys: ClassVar[frozenset[str]] = frozenset()
    #: ``touchAfter`` (seconds; 0: every request touches) and ``absoluteMaxAge`` (ms),
    #: set from the options when the store is built. A store whose read refreshes the
    #: expiry itself (Redis) applies them there; the session core applies them otherwise.
    touch_after: float = 0
    absolute_max_age: int | None = None
    #: ``read(touch=True)`` refreshes the expiry in the same round trip.
    touches_on_read: ClassVar[bool] = False

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Store:
        """Build the store from ``EXPRESS_SESSION["store"]["options"]``; an unknown key is
        an ``ImproperlyConfigured`` that names it."""
        parameters = inspect.signature(cls.__init__).parameters
        accepted = {
            name
            for name, parameter in parameters.items()
            if name != "self" and parameter.kind is inspect.Parameter.KEYWORD_ONLY
        }
        for key in options:
            if key not in accepted:
                raise ImproperlyConfigured(
                    f"EXPRESS_SESSION['store']['options'][{key!r}] is not an option of the "
                    f"{cls.name} store; its options are {sorted(accepted)}"
                )
        return cls(**options)

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
        cap = self.cap_of(session)
        return cap is not None and cap <= now

    def reindex(self, *, dry_run: bool = False, progress: Progress | None = None) -> int | None:
        """Rebuild the per-user index from the records (``manage.py reindexsessions``);
        return how many entries were added or removed, or None when the store keeps no
        index that can drift."""
        return None

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
        return cap_at(started_at(session), self.absolute_max_age)

    @staticmethod
    def expires_at_ms(session: Record, fallback_seconds: int) -> int:
        """connect-mongo's and connect-pg-simple's rule: ``cookie.expires``, else now plus
        ``fallback_seconds``, as epoch milliseconds."""
        expires = expires_ms(session)
        return expires if expires is not None else now_ms() + fallback_seconds * 1000


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


class Lazy(Generic[T]):
    """A connection (or any resource) built on first use, once even under threads, and
    dropped by ``reset()``: the one way every store opens its client."""

    def __init__(self, build: Callable[[], T], close: Callable[[T], None] | None = None) -> None:
        self._build = build
        self._close = close
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        value = self._value
        if value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._build()
                value = self._value
        return value

    @property
    def ready(self) -> bool:
        return self._value is not None

    def reset(self) -> None:
        with self._lock:
            value, self._value = self._value, None
        if value is not None and self._close is not None:
            self._close(value)


class PeriodicPrune:
    """Calls ``store.prune()`` every ``interval`` seconds in a daemon thread, logging a
    failure and trying again next round: the one background clean-up of the stores that
    have a Node option for it (memorystore ``checkPeriod``, session-file-store
    ``reapInterval``, connect-mongo ``autoRemove: "interval"``). Started on first use of
    the store, stopped by ``close()``. Without it, ``manage.py clearsessions`` from cron
    does the same, as Django's own engines expect."""

    def __init__(self, store: Store, interval: float) -> None:
        self.store = store
        self.interval = interval
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._lock = threading.Lock()

    def start(self) -> None:
        if self._thread is not None or self.interval <= 0:
            return
        with self._lock:
            if self._thread is None:
                self._stopped.clear()
                self._thread = threading.Thread(
                    target=self._loop, name=f"{self.store.name}-session-prune", daemon=True
                )
                self._thread.start()

    def stop(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        self._stopped.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=1)

    def _loop(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                self.store.prune()
            except Exception:  # the next round retries; reads filter on expiry anyway
                logger.warning(
                    "removing expired sessions from the %s store failed",
                    self.store.name,
                    exc_info=True,
                )
