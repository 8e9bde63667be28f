"""``EXPRESS_SESSION["migrateFrom"]``: switching from ``django.contrib.sessions`` without
logging anyone out.

A request that brings no express session but the old engine's cookie is served from the
old session: its data (login, CSRF token, messages...) becomes an express record, the
express cookie is set, the old cookie is deleted, and the old record is removed once the
new one is stored.

**The new id is derived, not random**: ``HMAC-SHA256(secret, old key)``, 24 bytes in
base64url (32 characters, the shape of a ``genid`` id). So

* two concurrent first requests with one old cookie ``create`` the same id; the loser's
  ``create`` fails (the stores never overwrite) and it reads the winner's record: one
  session, whichever wins;
* ``manage.py migratesessions`` converts stored sessions to the same ids, so running it
  twice, or while the site serves the same users, converts each session once, and an old
  cookie of a converted session finds its record under the derived id;
* the id cannot be predicted from the old key without the server's secret (the first of
  ``EXPRESS_SESSION["secret"]``): a planted old cookie gives an attacker no express id
  they can compute, and an old key that names no live session gets a random new id,
  never the derived one. (As with Django's own engine, whoever holds a live old key holds
  that session; ``login()`` still cycles the id.)
* the ``signed_cookies`` engine works the same: its "key" is the whole signed payload,
  which is what is hashed, and it has no record to remove.

The request path is ``opening.MigrateFromCookie``, a plan, so the sync and async
middleware run the same code; the old engine's calls (sync Django APIs) are two
operations, ``migration_take`` and ``migration_discard``, which ``MigratingStore`` adds to
the configured store: the async driver runs them with ``sync_to_async`` (one hop each), or
runs the whole plan in a worker thread for a store without native asyncio.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from datetime import timezone as dt_timezone
from importlib import import_module
from typing import TYPE_CHECKING, Any, cast

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from . import record
from .core.ops import Op
from .signing import Secret
from .validation import invalid, unknown_keys

if TYPE_CHECKING:
    from .cookie import Cookie
    from .stores.base import Store

logger = logging.getLogger("django_express_session")

#: Django's bookkeeping key for ``set_expiry()``; it becomes the express cookie's expiry.
EXPIRY_KEY = "_session_expiry"
_DERIVATION = b"django-express-session migrateFrom\x00"


@dataclass(frozen=True)
class MigrateFrom:
    """The old engine (a ``SESSION_ENGINE`` path) and the name of its cookie."""

    engine: str
    cookie_name: str

    def session_store(self) -> type:
        """The engine's ``SessionStore`` class (ImportError if it cannot be imported)."""
        return _engine_class(self.engine)


@functools.cache
def _engine_class(engine: str) -> type:
    return import_module(engine).SessionStore


def parse_migrate_from(config: Mapping[str, Any]) -> MigrateFrom | None:
    """``EXPRESS_SESSION["migrateFrom"]``, validated (the engine is imported by the
    system check and at first use, so a typo is a check error, not a crash at start-up)."""
    value = config.get("migrateFrom")
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise invalid(
            "'migrateFrom'",
            'must be a dict like {"engine": "django.contrib.sessions.backends.db"}, '
            f"not {value!r}",
        )
    unknown = set(value) - {"engine", "cookieName"}
    if unknown:
        raise unknown_keys("'migrateFrom'", unknown, ("engine", "cookieName"))
    engine = value.get("engine")
    if not isinstance(engine, str) or not engine:
        raise invalid(
            "'migrateFrom']['engine'",
            f"must be a SESSION_ENGINE path such as 'django.contrib.sessions.backends.db', not {engine!r}",
        )
    name = value.get("cookieName") or settings.SESSION_COOKIE_NAME
    if not isinstance(name, str) or any(c in name for c in ' ;,="\t\r\n'):
        raise invalid("'migrateFrom']['cookieName'", f"must be a cookie name, not {name!r}")
    return MigrateFrom(engine, name)


# -- ids and records ----------------------------------------------------------------------


def derive_sid(old_key: str, secret: Secret) -> str:
    """The express id of the session the old engine knows as ``old_key``."""
    key = secret if isinstance(secret, bytes) else secret.encode("utf-8")
    mac = hmac.new(key, _DERIVATION + old_key.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:24]).decode("ascii")


@dataclass(frozen=True)
class OldSession:
    """A session as the old engine holds it."""

    key: str
    data: dict[str, Any]
    #: When the old engine would have let it expire (None: unknown).
    expires: datetime | None = None


def build_record(old: OldSession, cookie: Cookie) -> record.Record:
    """The express record of an old session: its data, and ``cookie`` (the one a new
    session gets from the options), living at least as long as the old session would
    have (so neither the store nor the browser drops it earlier than Django would have)."""
    data = dict(old.data)
    custom = data.pop(EXPIRY_KEY, None)
    if isinstance(custom, int) and not isinstance(custom, bool):
        cookie.set_initial_max_age(custom * 1000 if custom else None)  # 0: a browser-session cookie
    elif isinstance(custom, str) and (moment := parse_datetime(custom)) is not None:
        cookie.set_initial_max_age(
            moment if timezone.is_aware(moment) else timezone.make_aware(moment)
        )
    elif old.expires is not None:
        # Keep the configured originalMaxAge (the next request restarts it from now).
        cookie.last_until(old.expires.astimezone(dt_timezone.utc))
    built = {"cookie": cookie.to_json(), **data}
    record.dumps(built)  # TypeError/ValueError now, for data JSON cannot hold
    return built


# -- the old engine -----------------------------------------------------------------------


def take(migrate: MigrateFrom, key: str) -> OldSession | None:
    """The old engine's live session of ``key``, or None (gone, expired, empty)."""
    session = migrate.session_store()(session_key=key)
    data = session.load()
    if not data:
        if session.session_key not in (None, "", key):
            # The file engine replaces an expired session by a new empty one: remove it.
            session.delete()
        return None
    try:
        expires = session.get_expiry_date()
    except Exception:  # a third-party engine's own rules; the options' cookie then decides
        expires = None
    return OldSession(key, data, expires)


def discard(migrate: MigrateFrom, key: str) -> None:
    migrate.session_store()(session_key=key).delete(key)


@dataclass(frozen=True, slots=True)
class TakeOld(Op):
    """Read and convert the old engine's session ``key`` (None: it has none)."""

    key: str


@dataclass(frozen=True, slots=True)
class DiscardOld(Op):
    """Delete the old engine's session ``key``."""

    key: str


class MigratingStore:
    """The configured store, plus the two old-engine operations ``adopting`` yields: a
    ``Performer`` of its own (``core.ops``) that hands every other operation to the
    store, and answers the rest of the store's API with the store's own attributes.
    Its plans run in Django's shared worker thread when the store has no native
    asyncio, since the old engine's calls block (and may use the database)."""

    blocking = True
    thread_sensitive = True

    def __init__(self, store: Store, migrate: MigrateFrom) -> None:
        self.store = store
        self.migrate = migrate

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def __repr__(self) -> str:
        return f"MigratingStore({self.store!r}, {self.migrate.engine!r})"

    @property
    def name(self) -> str:
        return self.store.name

    @property
    def connection_errors(self) -> tuple[type[BaseException], ...]:
        return self.store.connection_errors

    @property
    def native_async(self) -> bool:
        return self.store.native_async

    def perform(self, op: Op) -> Any:
        match op:
            case TakeOld(key):
                return take(self.migrate, key)
            case DiscardOld(key):
                return discard(self.migrate, key)
        return self.store.perform(op)

    async def aperform(self, op: Op) -> Any:
        match op:
            case TakeOld(key):
                return await sync_to_async(take, thread_sensitive=True)(self.migrate, key)
            case DiscardOld(key):
                return await sync_to_async(discard, thread_sensitive=True)(self.migrate, key)
        return await self.store.aperform(op)


def with_migration(store: Store, migrate: MigrateFrom | None) -> Store:
    """The store the middleware drives: the configured one, wrapped under ``migrateFrom``
    (a ``Performer`` of its own that answers every other ``Store`` attribute with the
    store's: hence the cast)."""
    if migrate is None:
        return store
    return cast("Store", MigratingStore(store, migrate))
