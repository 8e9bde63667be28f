"""The session middleware: express-session's per-request flow, Django's safety rules.

It replaces ``django.contrib.sessions.middleware.SessionMiddleware``. Opening reads the
signed cookie and loads the session; closing gathers the facts, lets ``core.decide``
choose (destroy, save, touch, set or clear the cookie, ``Vary``), carries that out, and
applies it to the response. The store write completes before the response leaves, and
a store that cannot be reached gives a 503 (the cookie kept), never a logout. Opening
and closing are plans, run by ``core.drive`` with the store's sync or async methods.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.contrib.sessions.exceptions import SessionInterrupted
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.template import TemplateDoesNotExist, loader
from django.utils.cache import patch_vary_headers

from . import conf, identity, limits, signals, signing
from .conf import Options
from .core import observe
from .core.decide import Decision, Facts, decide, settled_by_read, store_refreshed_at
from .core.drive import arun, run
from .core.lifetime import RecentRefreshes, now_ms
from .core.ops import Plan
from .core.state import Mode, SessionState
from .exceptions import StoreUnavailable, UpdateConflict, UpdateError
from .http import is_secure, path_matches, set_cookie_line
from .opening import Incoming, Opened, Opener, Owed, defers_loading, openers, opening_by
from .session import SessionStore
from .setup_checks import require_installed

logger = logging.getLogger("django_express_session")


class SessionMiddleware(DjangoSessionMiddleware):
    """Replaces Django's (and subclasses it only so checks such as the admin's, which
    look for a session middleware, recognise it; none of its code runs)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        # A bad configuration stops the server here, by name, before any request.
        require_installed()
        conf.get_options()
        conf.get_store()
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)
        self._options: Options | None = None
        self._openers: tuple[Opener, ...] = ()
        self._recent: RecentRefreshes | None = None

    def _configured(self) -> tuple[Options, tuple[Opener, ...]]:
        """The options, and the openers built for them once (again only when a test
        changes the settings), with the refreshes this process saw when it may defer
        reading a session (sync requests only: see ``opening.defers_loading``)."""
        options = conf.get_options()
        if options is not self._options:
            self._options, self._openers = options, openers(options)
            defers = not self.is_async and defers_loading(options, self._openers, conf.get_store())
            self._recent = RecentRefreshes() if defers else None
        return options, self._openers

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        (options, chain), store = self._configured(), conf.get_store()
        recent = self._recent
        # A session that need not be read (``defers_loading``) opens, and closes unused,
        # without driving a plan: the commonest request under touchAfter costs little.
        opened = None if recent is None else deferred_opening(request, options, recent)
        if opened is None:
            opened = run(opening(request, options, chain), store)
        if opened.response is not None:
            return opened.response
        identity.bridge(request, options.passport)
        limits.enforce_bridged(request)
        response = self.get_response(request)
        session = opened.session
        if session is not None and session.deferred_sid is not None:
            answered = unused_answer(request, session, response, options, recent)
            if answered is not None:
                return answered
        settled = settled_answer(request, opened, response, options)
        if settled is not None:
            return settled
        return run(closing(request, opened, response, options, recent), store)

    async def __acall__(self, request: HttpRequest) -> Awaitable[Any]:
        (options, chain), store = self._configured(), conf.get_store()
        opened = await arun(opening(request, options, chain), store)
        if opened.response is not None:
            return opened.response
        await identity.abridge(request, options.passport)
        await limits.aenforce_bridged(request)
        response = await self.get_response(request)
        settled = settled_answer(request, opened, response, options)
        if settled is not None:
            return settled
        return await arun(closing(request, opened, response, options), store)

    def process_exception(self, request: HttpRequest, exception: Exception) -> Any:
        """A deferred session's first use found the store down: a 503, as at the start
        of any other request."""
        session = getattr(request, "session", None)
        if isinstance(session, SessionStore) and session.deferred_failure is exception:
            signals.store_failed(SessionMiddleware, request, exception)
            return store_unavailable(exception)
        return None


def deferred_opening(
    request: HttpRequest, options: Options, recent: RecentRefreshes
) -> Opened | None:
    """The request's session, not read yet, when this process saw it refreshed less
    than ``touchAfter`` ago (a store whose loading may be deferred: ``recent``); None
    when it must be opened (``opening``)."""
    if not path_matches(request.path, options.cookie_for(request).path):
        return None
    incoming = Incoming.parse(request, options)
    sid = incoming.cookie_sid
    if sid is None or not recent.spares(sid, now_ms(), options.lifetime.touch_after_ms):
        return None
    request.session = session = SessionStore.deferred(request, sid)
    return Opened(session, incoming.had_cookie)


def opening(request: HttpRequest, options: Options, chain: tuple[Opener, ...]) -> Plan:
    if not path_matches(request.path, options.cookie_for(request).path):
        # Outside the cookie's path the browser sends no cookie: a session that is
        # never saved, so code reading request.session still works.
        request.session = SessionStore.detached_for(request)
        return Opened()
    incoming = Incoming.parse(request, options)
    owed: tuple[Owed, ...] = ()
    try:
        session, owed = yield from opening_by(chain, incoming)
    except StoreUnavailable as error:
        signals.store_failed(SessionMiddleware, request, error)
        if options.fail_when_store_unavailable:
            return Opened(response=store_unavailable(error))
        logger.warning("session store unavailable, continuing without a session: %s", error)
        session = SessionStore.detached_for(request)
    request.session = session
    return Opened(session, incoming.had_cookie, owed)


def closing(
    request: HttpRequest,
    opened: Opened,
    response: HttpResponseBase,
    options: Options,
    recent: RecentRefreshes | None = None,
) -> Plan:
    session = opened.session
    if session is None:
        return response
    if session.deferred_sid is not None:
        # Not answered unused (``unused_answer``, before this plan): its record is read
        # now, to close as any other request does.
        try:
            yield from session.undeferring()
        except StoreUnavailable as error:
            signals.store_failed(SessionMiddleware, request, error)
            return store_unavailable(error)
    unset = getattr(request, "session", None) is None
    fingerprint = None
    state = session.state
    if not unset and state.mode is not Mode.DESTROYED:
        fingerprint = session.fingerprint_for_decision()
    known = facts(request, opened, response, options)
    decision = decide(state, fingerprint, known)
    if decision.touch_spared and observe.current is not None:
        observe.current.touch_spared()
    try:
        sid = yield from session.finishing(decision, {} if fingerprint is None else fingerprint)
    except (StoreUnavailable, UpdateConflict) as error:
        signals.store_failed(SessionMiddleware, request, error)
        return store_unavailable(error)
    except UpdateError:
        raise interrupted() from None
    if recent is not None:
        remember(recent, state, decision, known, sid)
    return respond(response, session, decision, sid, options, opened.owed)


def unused_answer(
    request: HttpRequest,
    session: SessionStore,
    response: HttpResponseBase,
    options: Options,
    recent: RecentRefreshes | None,
) -> HttpResponseBase | None:
    """The response of a deferred session nothing used: as it is while no touch is due
    (express would do nothing), a 503 when its first use failed; None when its record
    must be read to decide."""
    failure = session.deferred_failure
    if failure is not None:  # a use failed: answered already, unless not by the view
        if response.status_code == 503:
            return response
        signals.store_failed(SessionMiddleware, request, failure)
        return store_unavailable(failure)
    sid = session.deferred_sid
    assert sid is not None and recent is not None
    kept = getattr(request, "session", None) is session  # else unset: decided on the record
    if kept and recent.spares(sid, now_ms(), options.lifetime.touch_after_ms):
        if observe.current is not None:
            observe.current.touch_spared()
        return response
    return None


def settled_answer(
    request: HttpRequest, opened: Opened, response: HttpResponseBase, options: Options
) -> HttpResponseBase | None:
    """The response of a returning visitor's request that left its session as it was
    read, from a store whose read refreshed the expiry (``core.decide.settled_by_read``):
    nothing is saved, touched or sent but ``Vary``, and that is told from the session's
    state alone, with no facts gathered, no plan run and no cookie touched before
    deciding (unseen when nothing is written nor sent). None: ``closing`` decides."""
    session = opened.session
    if (
        session is None
        or session.deferred_sid is not None
        or not session.state.touched_on_read  # (most stores never: asked first)
        or getattr(request, "session", None) is not session
    ):
        return None
    fingerprint, state = session.unchanged_fingerprint(), session.state
    if fingerprint is None or not settled_by_read(
        state,
        fingerprint,
        expiry_changed=session.expiry_changed,
        rolling=options.rolling,
        tracks=bool(options.track),
        touch_after_ms=options.lifetime.touch_after_ms,
    ):
        return None
    decision = Decision(vary=session.accessed)
    return respond(response, session, decision, state.sid, options, opened.owed)


def remember(
    recent: RecentRefreshes, state: SessionState, decision: Decision, known: Facts, sid: str | None
) -> None:
    """Note when the store last refreshed the session's expiry (``opening`` defers the
    read of a session refreshed less than ``touchAfter`` ago)."""
    if state.cookie_sid is not None and state.cookie_sid != sid:
        recent.forget(state.cookie_sid)  # ended, or replaced by a new id
    if sid is not None and (moment := store_refreshed_at(state, decision, known)) is not None:
        recent.saw(sid, moment)


def facts(
    request: HttpRequest, opened: Opened, response: HttpResponseBase, options: Options
) -> Facts:
    session = opened.session
    assert session is not None
    cookie = session.cookie
    return Facts(
        unset=getattr(request, "session", None) is None,
        had_cookie=opened.had_cookie,
        status_code=response.status_code,
        secure_request=bool(cookie.secure) and is_secure(request, options.proxy),
        accessed=session.accessed,
        unset_destroys=options.unset_destroys,
        save_uninitialized=options.save_uninitialized,
        rolling=options.rolling,
        expiry_changed=cookie.expiry_changed,
        has_expiry=cookie.expires is not None,
        cookie_secure=bool(cookie.secure),
        **session.lifetime_facts(request),
    )


def respond(
    response: HttpResponseBase,
    session: SessionStore,
    decision: Decision,
    sid: str | None,
    options: Options,
    owed: tuple[Owed, ...] = (),
) -> HttpResponseBase:
    """Apply the decision to the response; ``sid`` is the id a record stands behind;
    then settle what the openers left (``opening.Owed``)."""
    if decision.set_cookie and sid is not None:
        value = signing.cookie_value(sid, options.secrets[0])
        set_cookie_line(
            response, options.name, value, session.cookie.serialize(options.name, value)
        )
    elif decision.clear_cookie:
        set_cookie_line(response, options.name, "", session.cookie.serialize_clearing(options.name))
    if decision.vary:
        if response.has_header("Vary"):
            patch_vary_headers(response, ("Cookie",))
        else:  # what patch_vary_headers gives, without parsing
            response.headers["Vary"] = "Cookie"
    for debt in owed:
        debt.settle(response, decision, sid)
    return response


#: A project's template for the 503 body (none is shipped: without it, plain text).
UNAVAILABLE_TEMPLATE = "django_express_session/store_unavailable.html"


def store_unavailable(error: Exception) -> HttpResponse:
    logger.error("session store unavailable: %s", error)
    try:
        # Rendered without the request: its session is what failed, so no context
        # processor (user, messages, csrf) may run.
        body = loader.get_template(UNAVAILABLE_TEMPLATE).render({"retry_after": 1})
        content_type = "text/html; charset=utf-8"
    except TemplateDoesNotExist:
        body = "503 Service Unavailable: the session store cannot be reached. Please retry.\n"
        content_type = "text/plain; charset=utf-8"
    response = HttpResponse(body, status=503, content_type=content_type)
    response["Retry-After"] = "1"
    return response


def interrupted() -> SessionInterrupted:
    return SessionInterrupted(
        "The request's session was deleted before the request completed. The user may "
        "have logged out in a concurrent request, for example."
    )
