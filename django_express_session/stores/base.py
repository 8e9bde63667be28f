"""The Store contract every backend implements (express-session ``session/store.js``).

A store keeps records (``{"cookie": {...}, **data}``, see ``record``) under session ids,
in the layout of the matching express store so Node can read them.

A custom store, as in express, implements ``get``, ``set`` and ``destroy`` and, ideally,
``touch``; ``all``, ``clear``, ``length`` and ``prune`` are optional. Everything else has
a working default here.

The session layer writes through three safer operations:

* ``create(sid, record)``: write only if no record has that id (``CreateError``);
* ``read(sid)``: the record and a *version* token of what is stored;
* ``replace(sid, record, version)``: write only if the stored version is still
  ``version`` (a compare-and-set), returning False otherwise.

``update(sid, changes)`` builds on these: it lays one request's changes over the latest
record and retries on conflict, so concurrent requests lose nothing, and it raises
``UpdateError`` when the session is gone, so a destroyed session is never brought back.
The defaults of ``create``/``read``/``replace`` use ``get``/``set`` and are not atomic;
each built-in store overrides them with its backend's atomic primitive.
"""

from __future__ import annotations

import inspect
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any, ClassVar, NamedTuple, TypeVar

from asgiref.sync import sync_to_async
from django.core.exceptions import ImproperlyConfigured

from ..exceptions import CreateError, UpdateConflict, UpdateError
from ..record import Changes, Record, expires_ms, now_ms

T = TypeVar("T")

UPDATE_ATTEMPTS = 20


class Versioned(NamedTuple):
    """A record as read, with the token ``replace`` compares against."""

    record: Record
    version: Any = None
    # True when the read also refreshed the store-level expiry (saves a round trip).
    touched: bool = False


class Store:
    """Base class of all session stores."""

    #: Short name used in messages (``"redis"``, ``"file"``...).
    name: ClassVar[str] = "custom"
    #: Exceptions of the backend's client that mean "cannot reach the store". The session
    #: layer turns them into ``StoreUnavailable`` (a 503, never a logout).
    connection_errors: ClassVar[tuple[type[BaseException], ...]] = (ConnectionError, TimeoutError)
    #: Whether the sync methods block on I/O (the async twins then run them in a thread).
    blocking: ClassVar[bool] = True

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

    # -- express's store methods (custom stores implement these) --------------------------

    def get(self, sid: str) -> Record | None:
        """The unexpired record of ``sid``, or None. A record that cannot be decoded
        raises ``CorruptRecord``."""
        raise NotImplementedError(f"{type(self).__name__} must implement get()")

    def set(self, sid: str, session: Record) -> None:
        """Write the whole record, creating or replacing it."""
        raise NotImplementedError(f"{type(self).__name__} must implement set()")

    def destroy(self, sid: str) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement destroy()")

    def touch(self, sid: str, session: Record) -> None:
        """Refresh the store-level expiry of an unmodified session (never recreate it)."""

    def all(self) -> dict[str, Record]:
        raise NotImplementedError(f"the {self.name} store cannot list sessions")

    def clear(self) -> None:
        raise NotImplementedError(f"the {self.name} store cannot clear sessions")

    def length(self) -> int:
        raise NotImplementedError(f"the {self.name} store cannot count sessions")

    def prune(
        self, *, dry_run: bool = False, progress: Callable[[int], None] | None = None
    ) -> int | None:
        """Delete expired records (``manage.py clearsessions``); return how many, or None
        when the backend expires records by itself and there is nothing to do.

        With ``dry_run``, count what would be deleted and delete nothing. ``progress`` is
        called with the running total as batches complete.
        """
        return None

    # -- safe writes (built-in stores make these atomic) ----------------------------------

    def read(self, sid: str, *, touch: bool = False) -> Versioned | None:
        """The record with a version token. With ``touch``, a store that can refresh the
        expiry in the same round trip does so and says ``touched=True``."""
        session = self.get(sid)
        return None if session is None else Versioned(session)

    def create(self, sid: str, session: Record) -> None:
        """Write a new record; ``CreateError`` if ``sid`` is taken."""
        if self.get(sid) is not None:
            raise CreateError(sid)
        self.set(sid, session)

    def replace(self, sid: str, session: Record, version: Any) -> bool:
        """Write ``session`` only if the stored record is still at ``version``."""
        if self.get(sid) is None:
            return False
        self.set(sid, session)
        return True

    def update(self, sid: str, changes: Changes, known: Versioned | None = None) -> Record:
        """Apply ``changes`` onto the latest record of ``sid`` and return what was written.

        ``known`` is the record this request loaded: the first attempt trusts it and costs
        no read. ``UpdateError`` if the session is gone.
        """
        current = known
        for attempt in range(UPDATE_ATTEMPTS):
            if current is None or attempt:
                current = self.read(sid)
                if current is None:
                    raise UpdateError(sid)
            merged = changes.apply(current.record)
            if self.replace(sid, merged, current.version):
                return merged
            time.sleep(_backoff(attempt))
        raise UpdateConflict(sid)

    # -- async twins ----------------------------------------------------------------------

    def _async(self, method: Callable[..., T], *args: Any) -> Awaitable[T]:
        if not self.blocking:
            return _ready(method(*args))
        return sync_to_async(partial(method, *args), thread_sensitive=False)()

    async def aget(self, sid: str) -> Record | None:
        return await self._async(self.get, sid)

    async def aset(self, sid: str, session: Record) -> None:
        await self._async(self.set, sid, session)

    async def adestroy(self, sid: str) -> None:
        await self._async(self.destroy, sid)

    async def atouch(self, sid: str, session: Record) -> None:
        await self._async(self.touch, sid, session)

    async def aall(self) -> dict[str, Record]:
        return await self._async(self.all)

    async def aclear(self) -> None:
        await self._async(self.clear)

    async def alength(self) -> int:
        return await self._async(self.length)

    async def aprune(
        self, *, dry_run: bool = False, progress: Callable[[int], None] | None = None
    ) -> int | None:
        return await self._async(partial(self.prune, dry_run=dry_run, progress=progress))

    async def aread(self, sid: str, *, touch: bool = False) -> Versioned | None:
        return await self._async(partial(self.read, touch=touch), sid)

    async def acreate(self, sid: str, session: Record) -> None:
        await self._async(self.create, sid, session)

    async def areplace(self, sid: str, session: Record, version: Any) -> bool:
        return await self._async(self.replace, sid, session, version)

    async def aupdate(self, sid: str, changes: Changes, known: Versioned | None = None) -> Record:
        if type(self).aread is Store.aread and type(self).areplace is Store.areplace:
            # No native async primitives: run the whole loop in one thread hop.
            return await self._async(self.update, sid, changes, known)
        import asyncio

        current = known
        for attempt in range(UPDATE_ATTEMPTS):
            if current is None or attempt:
                current = await self.aread(sid)
                if current is None:
                    raise UpdateError(sid)
            merged = changes.apply(current.record)
            if await self.areplace(sid, merged, current.version):
                return merged
            await asyncio.sleep(_backoff(attempt))
        raise UpdateConflict(sid)

    # -- expiry helpers shared by the backends --------------------------------------------

    @staticmethod
    def ttl_seconds(session: Record, fallback: int | None) -> int | None:
        """connect-redis's rule, used by most stores: ``ceil((cookie.expires - now) / 1000)``
        when the cookie expires, else ``fallback``. Zero or less means "already expired"."""
        expires = expires_ms(session)
        if expires is None:
            return fallback
        return math.ceil((expires - now_ms()) / 1000)

    @staticmethod
    def expires_at_ms(session: Record, fallback_seconds: int) -> int:
        """connect-mongo's and connect-pg-simple's rule: ``cookie.expires``, else now plus
        ``fallback_seconds``, as epoch milliseconds."""
        expires = expires_ms(session)
        return expires if expires is not None else now_ms() + fallback_seconds * 1000


async def _ready(value: T) -> T:
    return value


def _backoff(attempt: int) -> float:
    # Short and jittered: conflicting writers are requests of one browser.
    return random.uniform(0, 0.002 * (attempt + 1))


# -- option checks shared by the backends -------------------------------------------------


def option_error(store: str, key: str, problem: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(
        f"EXPRESS_SESSION['store']['options'][{key!r}] ({store} store) {problem}"
    )


def check_number(
    store: str, key: str, value: Any, *, minimum: float | None = None, allow_none: bool = False
) -> Any:
    if value is None and allow_none:
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise option_error(store, key, f"must be a number, not {value!r}")
    if minimum is not None and value < minimum:
        raise option_error(store, key, f"must be at least {minimum}, not {value!r}")
    return value


def check_bool(store: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise option_error(store, key, f"must be True or False, not {value!r}")
    return value


def check_str(store: str, key: str, value: Any, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not allow_empty):
        raise option_error(
            store, key, f"must be a{'' if allow_empty else ' non-empty'} string, not {value!r}"
        )
    return value


def check_choice(store: str, key: str, value: Any, choices: tuple[Any, ...]) -> Any:
    if value not in choices:
        raise option_error(store, key, f"must be one of {list(choices)}, not {value!r}")
    return value
