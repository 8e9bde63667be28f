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

The request path is a plan (``adopting``), so the sync and async middleware run the same
code; the old engine's calls (sync Django APIs) are two operations, ``migration_take`` and
``migration_discard``, which ``MigratingStore`` adds to the configured store: the async
driver runs them with ``sync_to_async`` (one hop each), or runs the whole plan in a
worker thread for a store without native asyncio.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from datetime import timezone as dt_timezone
from importlib import import_module
from typing import TYPE_CHECKING, Any, cast

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from . import record
from .core import plans
from .core.ops import Create, Op, Plan, Versioned
from .exceptions import CreateError, StoreUnavailable
from .http import parse_cookie_header
from .signing import Secret
from .validation import invalid

if TYPE_CHECKING:
    from .conf import Options
    from .core.decide import Decision
    from .session import SessionStore
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
        raise invalid(
            "'migrateFrom'", f"has unknown keys {sorted(unknown)}; use 'engine' and 'cookieName'"
        )
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


def build_record(old: OldSession, options: Options, new_cookie: Any) -> record.Record:
    """The express record of an old session: its data, and the cookie a new session gets
    from the options, living at least as long as the old session would have (so neither
    the store nor the browser drops it earlier than Django would have)."""
    data = dict(old.data)
    custom = data.pop(EXPIRY_KEY, None)
    cookie = new_cookie
    if isinstance(custom, int) and not isinstance(custom, bool):
        cookie._set_max_age(custom * 1000 if custom else None)  # 0: a browser-session cookie
    elif isinstance(custom, str) and (moment := parse_datetime(custom)) is not None:
        cookie._set_max_age(moment if timezone.is_aware(moment) else timezone.make_aware(moment))
    elif old.expires is not None:
        ends = old.expires.astimezone(dt_timezone.utc)
        if cookie.expires is None or (
            isinstance(cookie.expires, datetime) and cookie.expires < ends
        ):
            # Keep the configured originalMaxAge (the next request restarts it from now).
            cookie._expires = ends
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


def with_migration(store: Store, options: Options) -> Store:
    """The store the middleware drives: the configured one, wrapped under ``migrateFrom``
    (a ``Performer`` of its own that answers every other ``Store`` attribute with the
    store's: hence the cast)."""
    if options.migrate_from is None:
        return store
    return cast("Store", MigratingStore(store, options.migrate_from))


# -- the request path ---------------------------------------------------------------------


@dataclass(frozen=True)
class Transition:
    """What the response owes the browser besides the express cookie."""

    #: The request carried the old engine's cookie: delete it, unless its session was
    #: moved over (``adopted``) and the express cookie is not sent in this response
    #: (a 5xx, say), so the browser keeps a way back to the session.
    delete_old_cookie: bool = False
    #: The request came from Django's test client: keep its raw cookie in step.
    stock_client: bool = False
    #: ... and it sent that cookie.
    stock_cookie: bool = False
    adopted: bool = False


def old_cookie(request: HttpRequest, migrate: MigrateFrom) -> str | None:
    return parse_cookie_header(request.META.get("HTTP_COOKIE", "")).get(migrate.cookie_name) or None


def opening(request: HttpRequest, options: Options, cookie_sid: str | None) -> Plan[Any]:
    """The request's session, as ``SessionStore.opening`` gives it, except when the
    express cookie names no stored session and the request is from Django's test client
    (its raw cookie, see ``testing.stock``) or carries the old engine's cookie."""
    from .session import SessionStore
    from .testing import stock

    test_client = stock.from_test_client(request)
    stock_sid = stock.stock_client_sid(request) if test_client else None
    migrate = options.migrate_from
    old_key = old_cookie(request, migrate) if migrate is not None else None
    session = yield from SessionStore.opening(request, cookie_sid)
    if not test_client and old_key is None:
        return session
    transition = Transition(old_key is not None, test_client, stock_sid is not None)
    if not session.state.stored and stock_sid is not None and stock_sid != cookie_sid:
        session = yield from SessionStore.opening(request, stock_sid)
    if not session.state.stored and old_key is not None:
        adopted = yield from adopting(request, options, old_key)
        if adopted is not None:
            session, transition = adopted, replace(transition, adopted=True)
    session._transition = transition
    return session


def adopting(request: HttpRequest, options: Options, old_key: str) -> Plan[Any]:
    """The express session of the old session ``old_key``: converted now (once, whoever
    of several concurrent requests wins the ``create``), or earlier; None when the old
    engine has no live session of that key."""
    from .session import SessionStore

    session = SessionStore()
    session.request = request
    # Converted earlier, maybe before the secret was rotated: any secret's id.
    for secret in options.secrets:
        sid = derive_sid(old_key, secret)
        if (loaded := (yield from plans.load(sid, touch=False))) is not None:
            break
    else:
        sid = derive_sid(old_key, options.secrets[0])
    created = False
    if loaded is None:
        try:
            old = yield TakeOld(old_key)
        except StoreUnavailable:
            raise
        except Exception as error:
            # As for the store: a 503 (the old cookie kept), never a logout.
            raise StoreUnavailable(f"the old session engine failed: {error!r}") from error
        if old is None:
            # Converted (and its old record removed) by a concurrent request meanwhile?
            loaded = yield from plans.load(sid, touch=False)
        else:
            try:
                converted = build_record(old, options, session._new_cookie())
            except (TypeError, ValueError) as error:
                logger.warning(
                    "migrateFrom: session %s not converted: %s", record.sid_hint(sid), error
                )
                return None
            try:
                yield Create(sid, converted)
                loaded, created = Versioned(converted), True
            except CreateError:
                loaded = yield from plans.load(sid, touch=False)  # the winner's record
    if loaded is None:
        return None
    try:
        yield DiscardOld(old_key)  # only now that the express record is stored
    except Exception as error:  # it lingers harmlessly: its cookie now finds the new record
        logger.warning("migrateFrom: the old session could not be removed: %r", error)
    session._begin(sid, loaded, cookie_sid=None)
    # A new id for the browser: the cookie is sent (the session counts as modified, as a
    # regenerated one does) and, when the record was not created just now, rewritten
    # with the expiry that cookie carries.
    session.state = replace(session.state, original_id=None, version=None if created else loaded)
    if not created:
        # Converted by another request or by migratesessions (which knows no request):
        # the cookie this request would give a new session, written back with the data.
        session._cookie = session._new_cookie()
        session._cookie.expiry_changed = True
    return session


def responding(
    response: HttpResponseBase,
    session: SessionStore,
    decision: Decision,
    sid: str | None,
    options: Options,
) -> None:
    """Delete the old cookie, and keep Django's test client's raw cookie in step."""
    transition: Transition | None = getattr(session, "_transition", None)
    if transition is None:
        return
    sent = decision.set_cookie and sid is not None
    if (
        transition.delete_old_cookie
        and options.migrate_from is not None
        and (sent or not transition.adopted)
    ):
        response.delete_cookie(
            options.migrate_from.cookie_name,
            path=settings.SESSION_COOKIE_PATH,
            domain=settings.SESSION_COOKIE_DOMAIN,
            samesite=settings.SESSION_COOKIE_SAMESITE,
        )
    if transition.stock_client:
        from .testing import stock

        stored = sid if session.state.stored else None
        stock.mirror(response, decision, stored, sent=transition.stock_cookie)
