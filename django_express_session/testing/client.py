"""Django's test clients, with the session cookie express-session would send.

``django.test.Client`` keeps the raw session key, unsigned, in a cookie named
``SESSION_COOKIE_NAME``; the middleware rightly ignores such a cookie, so ``login()``,
``force_login()`` and ``client.session`` would log nobody in. These clients keep the
session in the jar as the middleware itself would have set it: under the configured
``name``, signed with the first secret, with the session cookie's attributes. Nothing in
the middleware is relaxed for tests.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.test import client as django_client

from .. import conf, signing
from ..compat import put_set_cookie_line
from ..http import parse_cookie_header
from ..session import SessionStore


class ExpressSessionClientMixin:
    """What ``Client`` and ``AsyncClient`` share: the session behind the jar's cookie."""

    cookies: Any

    @property
    def session(self) -> SessionStore:
        """The session the next request will carry; a new one is saved (and its cookie
        put in the jar) when the jar names none that is stored."""
        session = SessionStore(self._session_id())
        session.load()  # an unknown or expired id leaves the session without a key
        if session.session_key is None:
            session.save()
            self._set_session_cookie(session)
        return session

    async def asession(self) -> SessionStore:
        session = SessionStore(self._session_id())
        await session.aload()
        if session.session_key is None:
            await session.asave()
            self._set_session_cookie(session)
        return session

    def _set_login_cookies(self, request: HttpRequest) -> None:
        # Called by login(), force_login() and their async twins once the session is saved.
        self._set_session_cookie(request.session)

    def _session_id(self) -> str | None:
        """The id in the jar's session cookie, if it is validly signed (as the middleware
        reads it)."""
        options = conf.get_options()
        morsel = self.cookies.get(options.name)
        if morsel is None:
            return None
        # Parsed as the request's Cookie header will be (the client sends coded values).
        value = parse_cookie_header(f"{options.name}={morsel.coded_value}").get(options.name)
        return signing.session_id(value, options.secrets)

    def _set_session_cookie(self, session: SessionStore) -> None:
        options = conf.get_options()
        value = signing.cookie_value(session.session_key, options.secrets[0])
        line = session.cookie.serialize(options.name, value)
        # The jar holds it exactly as it holds the middleware's Set-Cookie.
        put_set_cookie_line(self.cookies, options.name, value, line)


class Client(ExpressSessionClientMixin, django_client.Client):
    """``django.test.Client`` for projects that use django-express-session."""


class AsyncClient(ExpressSessionClientMixin, django_client.AsyncClient):
    """``django.test.AsyncClient`` for projects that use django-express-session."""
