"""How a request's session is opened, and what the response owes besides its cookie.

The middleware parses the ``Cookie`` header once (``Incoming``) and runs the openers
built once for the options (``openers``): the express cookie always (``ExpressCookie``),
``migrateFrom``'s old engine only when it is configured (``MigrateFromCookie``), and
those the package's test support adds (Django's stock test client: its pytest plugin
and its ``manage.py test`` install it; nothing does in production). Each opener after
the first may take over while the session so far is not stored, and may leave an
``Owed``: work on the response besides the express cookie (deleting the old engine's
cookie, keeping the stock client's in step), settled in reverse order once the
response is decided, as middleware unwind.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

from . import migration, record, signing
from .conf import Options
from .core import plans
from .core.decide import Decision
from .core.ops import Create, Plan, Versioned
from .exceptions import CreateError, StoreUnavailable
from .http import request_cookies
from .migration import MigrateFrom
from .session import SessionStore, new_cookie
from .stores.base import Store
from .transport import HeaderReplying

logger = logging.getLogger("django_express_session")


# Incoming and Opened are made for every request: slotted, and not frozen (a frozen
# dataclass pays an object.__setattr__ per field); nothing changes them.
@dataclass(slots=True)
class Incoming:
    """A request with its cookies parsed once (cookie@0.7.2's rules: the first of a name
    wins), and the options it is opened under."""

    request: HttpRequest
    options: Options
    cookies: Mapping[str, str]
    #: The session id of a validly signed express cookie.
    cookie_sid: str | None
    #: The browser sent a cookie of the session's name at all (signed validly or not),
    #: or, with the ``header`` option, that header instead.
    had_cookie: bool
    #: The id came in the ``header`` option's header, there being no cookie.
    by_header: bool = False

    @classmethod
    def parse(cls, request: HttpRequest, options: Options) -> Incoming:
        cookies = request_cookies(request.META.get("HTTP_COOKIE", ""))
        raw = cookies.get(options.name)
        by_header = False
        if options.header is not None:  # taken (and masked) even when a cookie wins
            in_header = options.header.take(request.META)
            if raw is None and in_header is not None:
                raw, by_header = in_header, True
        sid = signing.session_id(raw, options.secrets)
        return cls(request, options, cookies, sid, raw is not None, by_header)


class Owed(Protocol):
    """Work on the response that an opener left, besides the express cookie."""

    def settle(self, response: HttpResponseBase, decision: Decision, sid: str | None) -> None:
        """``sid``: the id a stored record stands behind (None: none)."""


class Opener(Protocol):
    def opening(self, incoming: Incoming, session: SessionStore | None) -> Plan[Any]:
        """A plan giving ``(session, owed or None)``: ``session`` is the one opened so
        far (None for the first opener), kept or replaced."""


@dataclass(slots=True)
class Opened:
    """A request's session as opened, or the response that ends the request at once."""

    session: SessionStore | None = None
    had_cookie: bool = False
    owed: tuple[Owed, ...] = ()
    response: HttpResponseBase | None = None


class ExpressCookie:
    """The session the signed express cookie names, loaded; else a new one."""

    def opening(self, incoming: Incoming, session: SessionStore | None) -> Plan[Any]:
        return (yield from SessionStore.opening(incoming.request, incoming.cookie_sid)), None


def opening_by(chain: tuple[Opener, ...], incoming: Incoming) -> Plan[Any]:
    """Run the openers; give ``(session, what the response owes)``."""
    session: SessionStore | None = None
    owed: list[Owed] = []
    for opener in chain:
        session, debt = yield from opener.opening(incoming, session)
        if debt is not None:
            owed.append(debt)
    assert session is not None
    return session, tuple(reversed(owed))


def defers_loading(options: Options, chain: tuple[Opener, ...], store: Store) -> bool:
    """Whether a request whose cookie names a session the store refreshed less than
    ``touchAfter`` ago may leave its record unread until something uses it: if its
    view never does, express would do nothing with it (no touch is due, no cookie is
    sent), and neither is a read needed to know so. Only where nothing else needs the
    record at the start (no ``migrateFrom``, ``header``, ``passport`` bridge, test
    openers, absolute cap, ``track``, ``rolling``, ``resave``, ``saveUninitialized``),
    where a store that fails later still gives a 503, and for a store whose calls may
    run on any thread (a first use from an async view may read it there)."""
    lifetime = options.lifetime
    return (
        len(chain) == 1
        and isinstance(chain[0], ExpressCookie)
        and lifetime.touch_after_ms > 0
        and lifetime.absolute_max_age_ms is None
        and not (options.rolling or options.resave or options.save_uninitialized)
        and not options.track
        and options.passport is None
        and options.fail_when_store_unavailable
        and not store.thread_sensitive
    )


# -- migrateFrom ----------------------------------------------------------------------------


@dataclass(frozen=True)
class OldCookieDeletion:
    """The request carried the old engine's cookie: delete it, unless its session was
    moved over (``adopted``) and the express cookie is not sent in this response (a 5xx,
    say), so the browser keeps a way back to the session."""

    cookie_name: str
    adopted: bool

    def settle(self, response: HttpResponseBase, decision: Decision, sid: str | None) -> None:
        if self.adopted and not (decision.set_cookie and sid is not None):
            return
        response.delete_cookie(
            self.cookie_name,
            path=settings.SESSION_COOKIE_PATH,
            domain=settings.SESSION_COOKIE_DOMAIN,
            samesite=settings.SESSION_COOKIE_SAMESITE,
        )


@dataclass(frozen=True)
class MigrateFromCookie:
    """A request that brings no stored express session but the old engine's cookie is
    served from the old session, moved over now (``migration``)."""

    migrate: MigrateFrom

    def opening(self, incoming: Incoming, session: SessionStore | None) -> Plan[Any]:
        old_key = incoming.cookies.get(self.migrate.cookie_name) or None
        if old_key is None:
            return session, None
        adopted = None
        if session is None or not session.state.stored:
            adopted = yield from self.adopting(incoming.request, incoming.options, old_key)
        debt = OldCookieDeletion(self.migrate.cookie_name, adopted=adopted is not None)
        return adopted or session, debt

    def adopting(self, request: HttpRequest, options: Options, old_key: str) -> Plan[Any]:
        """The express session of the old session ``old_key``: converted now (once,
        whoever of several concurrent requests wins the ``create``), or earlier; None
        when the old engine has no live session of that key."""
        # Converted earlier, maybe before the secret was rotated: any secret's id.
        for secret in options.secrets:
            sid = migration.derive_sid(old_key, secret)
            if (loaded := (yield from plans.load(sid, touch=False))) is not None:
                break
        else:
            sid = migration.derive_sid(old_key, options.secrets[0])
        created = False
        if loaded is None:
            loaded, created = yield from self._converting(request, options, old_key, sid)
        if loaded is None:
            return None
        try:
            yield migration.DiscardOld(old_key)  # only now that the express record is stored
        except Exception as error:  # it lingers harmlessly: its cookie now finds the new record
            logger.warning("migrateFrom: the old session could not be removed: %r", error)
        return SessionStore.adopted(request, sid, loaded, created=created)

    def _converting(
        self, request: HttpRequest, options: Options, old_key: str, sid: str
    ) -> Plan[Any]:
        """The old session ``old_key`` stored as an express record under ``sid``: give
        ``(record as read, created by this request)``; ``(None, False)`` when there is
        none to convert."""
        try:
            old = yield migration.TakeOld(old_key)
        except StoreUnavailable:
            raise
        except Exception as error:
            # As for the store: a 503 (the old cookie kept), never a logout.
            raise StoreUnavailable(f"the old session engine failed: {error!r}") from error
        if old is None:
            # Converted (and its old record removed) by a concurrent request meanwhile?
            return (yield from plans.load(sid, touch=False)), False
        try:
            converted = migration.build_record(old, new_cookie(request, options))
        except (TypeError, ValueError) as error:
            logger.warning("migrateFrom: session %s not converted: %s", record.sid_hint(sid), error)
            return None, False
        try:
            yield Create(sid, converted)
        except CreateError:
            return (yield from plans.load(sid, touch=False)), False  # the winner's record
        return Versioned(converted), True


# -- the chain ----------------------------------------------------------------------------

#: Openers the package's test support installs (``testing.stock``); none in production.
_test_openers: list[Opener] = []


def install_test_opener(opener: Opener) -> None:
    """Add ``opener`` after the configured ones (test support only)."""
    if opener not in _test_openers:
        _test_openers.append(opener)


def remove_test_opener(opener: Opener) -> None:
    if opener in _test_openers:
        _test_openers.remove(opener)


def test_openers() -> tuple[Opener, ...]:
    return tuple(_test_openers)


def openers(options: Options) -> tuple[Opener, ...]:
    """The openers for ``options``, in order (built once, at start-up)."""
    chain: list[Opener] = [ExpressCookie(), *_test_openers]
    if options.migrate_from is not None:
        chain.append(MigrateFromCookie(options.migrate_from))
    if options.header is not None:
        chain.append(HeaderReplying(options.header))
    return tuple(chain)
