"""The session middleware: express-session's per-request decisions, Django's safety rules.

It replaces ``django.contrib.sessions.middleware.SessionMiddleware``. The decisions are the
small named predicates of express-session's ``index.js`` (``should_save``,
``should_touch``, ``should_set_cookie``, ``should_destroy``); the store write completes
before the response leaves, and the request fails with a 503 (the cookie kept) rather
than losing the session when the store cannot be reached.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.contrib.sessions.exceptions import SessionInterrupted
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils.cache import patch_vary_headers

from . import signing
from .conf import Options, get_options
from .exceptions import StoreUnavailable, UpdateConflict, UpdateError
from .http import is_secure, parse_cookie_header, path_matches, set_cookie_line
from .session import SessionStore

logger = logging.getLogger("django_express_session")

GetResponse = Callable[[HttpRequest], HttpResponseBase]


# -- the decisions (express-session index.js) ---------------------------------------------


def should_destroy(session: SessionStore, options: Options, unset: bool) -> bool:
    """``request.session`` was set to None or deleted under ``unset: "destroy"``."""
    return unset and options.unset_destroys and session.stored


def should_save(session: SessionStore, fingerprint: dict[str, str], options: Options) -> bool:
    if session.detached or session.session_key is None:
        return False
    if session.cookie.expiry_changed:
        return True  # so the store and the browser never disagree on expiry
    if not options.save_uninitialized and not session.saved_explicitly_or_loaded and session.is_new:
        return session.is_modified(fingerprint)
    return not session.is_saved(fingerprint)


def should_touch(session: SessionStore, saving: bool) -> bool:
    return not saving and not session.detached and not session.is_new and session.stored


def should_set_cookie(session: SessionStore, fingerprint: dict[str, str], options: Options) -> bool:
    if session.detached or session.session_key is None:
        return False
    if session.is_new:
        return options.save_uninitialized or session.is_modified(fingerprint)
    if session.cookie.expiry_changed:
        return True
    has_expiry = session.cookie.expires is not None
    return options.rolling or (has_expiry and session.is_modified(fingerprint))


def can_send_cookie(session: SessionStore, request: HttpRequest, options: Options) -> bool:
    """A ``secure`` cookie only goes out over HTTPS."""
    return not session.cookie.secure or is_secure(request, options.proxy)


@dataclass(frozen=True)
class Decision:
    destroy: bool = False
    save: bool = False
    touch: bool = False
    send_cookie: bool = False
    clear_cookie: bool = False


def decide(
    request: HttpRequest,
    session: SessionStore,
    response: HttpResponseBase,
    options: Options,
    had_cookie: bool,
    fingerprint: dict[str, str] | None,
) -> Decision:
    unset = getattr(request, "session", None) is None
    if unset:
        destroy = should_destroy(session, options, unset)
        return Decision(destroy=destroy, clear_cookie=destroy and had_cookie)
    if session.destroyed:
        return Decision(clear_cookie=had_cookie)
    if fingerprint is None or response.status_code >= 500:
        return Decision()  # Django: no save on a server error
    save = should_save(session, fingerprint, options)
    send_cookie = should_set_cookie(session, fingerprint, options)
    if not can_send_cookie(session, request, options):
        send_cookie = False
        # A new session whose cookie cannot reach the browser would be an orphan.
        save = save and not session.is_new
    touch = should_touch(session, save) and not session.touched_on_read
    clear_cookie = session.ended and had_cookie and not ((send_cookie and save) or session.stored)
    return Decision(save=save, touch=touch, send_cookie=send_cookie, clear_cookie=clear_cookie)


# -- the middleware -----------------------------------------------------------------------


def store_unavailable(error: Exception) -> HttpResponse:
    logger.error("session store unavailable: %s", error)
    response = HttpResponse(
        "503 Service Unavailable: the session store cannot be reached. Please retry.\n",
        status=503,
        content_type="text/plain; charset=utf-8",
    )
    response["Retry-After"] = "1"
    return response


class SessionMiddleware(DjangoSessionMiddleware):
    """Replaces Django's (and subclasses it only so checks such as the admin's, which
    look for a session middleware, recognise it; none of its code runs)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse | Callable[[HttpRequest], Awaitable[Any]]):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        options = get_options()
        if not path_matches(request.path, options.cookie.path):
            request.session = SessionStore.detached_for(request)
            return self.get_response(request)
        cookie_sid, had_cookie = read_cookie(request, options)
        try:
            session = SessionStore.for_request(request, cookie_sid)
        except StoreUnavailable as error:
            if options.fail_when_store_unavailable:
                return store_unavailable(error)
            logger.warning("session store unavailable, continuing without a session: %s", error)
            session = SessionStore.detached_for(request)
        request.session = session
        response = self.get_response(request)
        try:
            decision, fingerprint = prepare(request, session, response, options, had_cookie)
            if decision.destroy:
                session.store_destroy()
            if decision.save:
                session.commit(fingerprint)
            elif decision.touch:
                session.store_touch()
        except (StoreUnavailable, UpdateConflict) as error:
            return store_unavailable(error)
        except UpdateError:
            raise interrupted() from None
        return respond(request, session, response, options, decision)

    async def __acall__(self, request: HttpRequest) -> Any:
        options = get_options()
        if not path_matches(request.path, options.cookie.path):
            request.session = SessionStore.detached_for(request)
            return await self.get_response(request)
        cookie_sid, had_cookie = read_cookie(request, options)
        try:
            session = await SessionStore.afor_request(request, cookie_sid)
        except StoreUnavailable as error:
            if options.fail_when_store_unavailable:
                return store_unavailable(error)
            logger.warning("session store unavailable, continuing without a session: %s", error)
            session = SessionStore.detached_for(request)
        request.session = session
        response = await self.get_response(request)
        try:
            decision, fingerprint = prepare(request, session, response, options, had_cookie)
            if decision.destroy:
                await session.astore_destroy()
            if decision.save:
                await session.acommit(fingerprint)
            elif decision.touch:
                await session.astore_touch()
        except (StoreUnavailable, UpdateConflict) as error:
            return store_unavailable(error)
        except UpdateError:
            raise interrupted() from None
        return respond(request, session, response, options, decision)


def read_cookie(request: HttpRequest, options: Options) -> tuple[str | None, bool]:
    """The session id of a validly signed cookie (first occurrence wins, as in express),
    and whether the browser sent a cookie of that name at all."""
    cookies = parse_cookie_header(request.META.get("HTTP_COOKIE", ""))
    raw = cookies.get(options.name)
    return signing.session_id(raw, options.secrets), raw is not None


def prepare(
    request: HttpRequest,
    session: SessionStore,
    response: HttpResponseBase,
    options: Options,
    had_cookie: bool,
) -> tuple[Decision, dict[str, str]]:
    fingerprint = None
    if getattr(request, "session", None) is not None and not session.destroyed:
        session.cookie.reset_max_age()  # express touches the session before deciding
        fingerprint = session.fingerprint()
    return decide(request, session, response, options, had_cookie, fingerprint), fingerprint or {}


def respond(
    request: HttpRequest,
    session: SessionStore,
    response: HttpResponseBase,
    options: Options,
    decision: Decision,
) -> HttpResponseBase:
    if decision.send_cookie and not session.detached and session.stored:
        value = signing.cookie_value(session.session_key, options.secrets[0])
        set_cookie_line(
            response, options.name, value, session.cookie.serialize(options.name, value)
        )
    elif decision.clear_cookie:
        set_cookie_line(response, options.name, "", session.cookie.serialize_clearing(options.name))
    if session.accessed or decision.send_cookie or decision.clear_cookie:
        patch_vary_headers(response, ("Cookie",))
    return response


def interrupted() -> SessionInterrupted:
    return SessionInterrupted(
        "The request's session was deleted before the request completed. The user may "
        "have logged out in a concurrent request, for example."
    )
