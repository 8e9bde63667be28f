"""Sessions for WebSockets: ASGI middleware for Channels and plain ASGI apps.

``SessionMiddleware(inner)`` opens the session the handshake's signed cookie names (or,
with the ``header`` option, that header where there is no cookie) through the same
plan the HTTP middleware runs, performed by the store's ``a*`` methods (natively async
for the Redis, PostgreSQL and MongoDB stores: no thread), runs the ``passport`` bridge,
and puts the session in ``scope["session"]``. ``AuthMiddlewareStack(inner)`` adds
``scope["user"]`` (Django's ``aget_user``, so a bridged Express login is a user too).

Once the app accepts the socket, its session is checked every ``socketRecheck``
seconds: when the record is gone (a logout on either app, ``logout_everywhere``), the
absolute cap is reached, or the login the socket opened under was replaced, the socket
is closed with ``SESSION_ENDED`` (4401), and what the app sends afterwards is dropped.
A check is one read. Under ``touchAfter`` it also refreshes the record's expiry when a
request would (at most once per ``touchAfter``; Redis does it inside the read), so an
open socket keeps its session alive only at that pace, and never past the cap. Without
``touchAfter`` a socket does not keep its session alive. A login or logout the app
makes on the socket's own session is followed.

Nothing here imports Channels: the middleware speaks ASGI, so it wraps a Channels
``URLRouter`` as well as a bare ASGI app. Origins are not checked here: wrap the stack in
Channels' ``AllowedHostsOriginValidator``, as Channels' own stack is.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import datetime, timedelta, timezone
from typing import Any

from django.contrib.auth import SESSION_KEY, aget_user
from django.core.handlers.asgi import ASGIRequest

from . import conf, identity
from .conf import Options
from .cookie import Cookie
from .core import plans
from .core.drive import arun
from .core.lifetime import now_ms
from .core.ops import Versioned
from .exceptions import StoreUnavailable
from .middleware import opening
from .opening import ExpressCookie
from .owner import passport_user
from .record import Record, expires_ms, sid_hint
from .session import SessionStore
from .stores.base import Store
from .transport import MASK

logger = logging.getLogger("django_express_session")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The close code of a socket whose session ended (4000-4999: the application's own).
SESSION_ENDED = 4401
#: The close code of a handshake refused because the session store cannot be reached
#: (the socket is not opened without its session, as a request gets a 503).
STORE_UNAVAILABLE = 1013

#: A socket opens its session with the express cookie alone: ``migrateFrom`` would owe
#: the browser a new cookie, which a socket cannot send.
_CHAIN = (ExpressCookie(),)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class HandshakeRequest(ASGIRequest):
    """The handshake as a Django request (headers, client, path), for what the session
    and the login read of a request: ``ws``/``wss`` count as ``http``/``https``."""

    def __init__(self, scope: Scope) -> None:
        super().__init__({**scope, "method": "GET"}, io.BytesIO())

    def _get_scheme(self) -> str:
        return "https" if self.scope.get("scheme") in ("wss", "https") else "http"


def login_of(data: Record | None) -> tuple[Any, Any]:
    """The login a record holds: Django's user id and passport's user (None: none)."""
    if not data:
        return None, None
    return data.get(SESSION_KEY), passport_user(data)


def login_replaced(opened: tuple[Any, Any], now: tuple[Any, Any]) -> bool:
    """A login the socket opened under is gone or names another user now (a value that
    appears where there was none, the bridge filing a passport login, is no change)."""
    return any(
        before is not None and after != before for before, after in zip(opened, now, strict=True)
    )


class SessionWatch:
    """The checks of one open socket's session: ``check()`` says whether it stands."""

    def __init__(self, sid: str, login: tuple[Any, Any], options: Options, store: Store) -> None:
        self.sid = sid
        self.login = login
        self.options = options
        self.store = store

    async def check(self) -> bool:
        touching = self.options.lifetime.touch_after_ms > 0
        # A store that can touch while reading (Redis) applies touchAfter itself, in
        # the same round trip; the others are touched afterwards, when one is due.
        touch_on_read = touching and self.store.touches_on_read
        loaded = await arun(plans.load(self.sid, touch=touch_on_read), self.store)
        now = now_ms()
        if loaded is None or self.options.lifetime.past_cap(loaded.record, now):
            return False
        if login_replaced(self.login, login_of(loaded.record)):
            return False
        if touching and not touch_on_read:
            await self._touch_if_due(loaded, now)
        return True

    async def _touch_if_due(self, loaded: Versioned, now: int) -> None:
        touched = self._touched(loaded.record)
        # What the store holds, else what the record says it was last given.
        held = loaded.expires_at if loaded.expires_at is not None else expires_ms(loaded.record)
        if self.options.lifetime.touch_due(
            now=now,
            fresh=self.store.fresh_expiry(touched),
            held=held,
            touched_at=loaded.touched_at,
        ):
            await arun(plans.touch(self.sid, touched), self.store)

    def _touched(self, session: Record) -> Record:
        """The record as a request's touch leaves it: the cookie's expiry restarted
        from its ``originalMaxAge``, never past the absolute cap."""
        cookie = Cookie.from_json(
            session["cookie"], sid=self.sid, defaults=self.options.cookie.given
        )
        cookie.reset_max_age()
        cap = self.options.lifetime.cap_of(session)
        if cap is not None:
            cookie.end_by(_EPOCH + timedelta(milliseconds=cap))
        return {**session, "cookie": cookie.to_json()}


class _Socket:
    """One connection: passes messages through, starts watching once the app accepts,
    and closes the socket when the watch finds the session ended."""

    def __init__(
        self, receive: Receive, send: Send, session: SessionStore, watch: SessionWatch | None
    ) -> None:
        self._receive, self._send = receive, send
        self.session, self.watch = session, watch
        self.task: asyncio.Task[None] | None = None
        self.closed = False

    async def receive(self) -> dict[str, Any]:
        message = await self._receive()
        if message.get("type") == "websocket.disconnect":
            self.stop()
        return message

    async def send(self, message: dict[str, Any]) -> None:
        if self.closed:
            return  # closed for the session's end: the server wants nothing more
        kind = message.get("type")
        if kind == "websocket.accept" and self.task is None:
            self.task = asyncio.ensure_future(self._watching())
        elif kind == "websocket.close":
            self.closed = True
            self.stop()
        await self._send(message)

    def _following(self) -> SessionWatch | None:
        """The watch of the session as it is now: the socket's app may have logged in
        or out on it (Channels' ``login()`` rotates the id, ``logout()`` flushes it).
        None while no record of its own stands behind it (anonymous, or not saved
        yet): there is nothing to end."""
        session, watch = self.session, self.watch
        if not session.state.stored:
            return None
        if watch is None or watch.sid != session.session_key:
            login = login_of(session.data_without_access())
            options, store = session.options, session.store
            self.watch = watch = SessionWatch(session.session_key, login, options, store)
        return watch

    async def _watching(self) -> None:
        while True:
            await asyncio.sleep(self.session.options.socket_recheck)
            watch = self._following()
            if watch is None:
                continue
            try:
                stands = await watch.check()
            except StoreUnavailable as error:  # not a logout: check again next time
                logger.warning("socket session check failed: %s", error)
                continue
            if not stands:
                logger.info("session %s ended: closing its socket", sid_hint(watch.sid))
                self.closed = True
                await self._send({"type": "websocket.close", "code": SESSION_ENDED})
                return

    def stop(self) -> None:
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()


def masked(headers: Any, name: str) -> list[tuple[bytes, bytes]]:
    """ASGI ``headers`` with the value of the header ``name`` masked."""
    lowered = name.lower().encode("latin1")
    return [(key, MASK.encode() if key.lower() == lowered else value) for key, value in headers]


class SessionMiddleware:
    """``scope["session"]`` for WebSocket connections (other scopes pass through: HTTP
    requests get their session from the Django middleware)."""

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.inner(scope, receive, send)
            return
        options, store = conf.get_options(), conf.get_store()
        request = HandshakeRequest(scope)
        opened = await arun(opening(request, options, _CHAIN), store)
        if opened.response is not None:
            await send({"type": "websocket.close", "code": STORE_UNAVAILABLE})
            return
        session = request.session
        watch = None
        if session.state.stored:  # the login as stored, before the bridge settles it
            login = login_of(session.data_without_access())
            watch = SessionWatch(session.session_key, login, options, store)
        await identity.abridge(request, options.passport)
        socket = _Socket(receive, send, session, watch)
        inner_scope = {**scope, "session": session}
        if options.header is not None:  # as in request.META: the id reaches no log
            inner_scope["headers"] = masked(scope.get("headers", ()), options.header.name)
        try:
            await self.inner(inner_scope, socket.receive, socket.send)
        finally:
            socket.stop()


class AuthMiddleware:
    """``scope["user"]``: the user of ``scope["session"]`` (AnonymousUser when none),
    as ``request.user`` would be, a bridged passport login included. Needs
    ``SessionMiddleware`` outside it."""

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        session = scope.get("session")
        if scope["type"] != "websocket" or not isinstance(session, SessionStore):
            if scope["type"] == "websocket":
                raise ValueError(
                    "AuthMiddleware needs django_express_session.channels.SessionMiddleware "
                    "around it (use AuthMiddlewareStack)"
                )
            await self.inner(scope, receive, send)
            return
        user = await aget_user(session.request)
        await self.inner({**scope, "user": user}, receive, send)


def AuthMiddlewareStack(inner: ASGIApp) -> ASGIApp:  # Channels names it so
    """``SessionMiddleware(AuthMiddleware(inner))``: Channels' ``AuthMiddlewareStack``
    for express sessions."""
    return SessionMiddleware(AuthMiddleware(inner))
