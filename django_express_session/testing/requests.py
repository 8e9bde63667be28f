"""A working ``request.session`` for ``RequestFactory`` unit tests.

A bare request from ``RequestFactory`` has no session, since no middleware ran. These
helpers give it the session the middleware would have given it: the one named by the
request's signed cookie (or by ``sid``) when it is stored, else a new one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest

from ..conf import get_options
from ..opening import Incoming
from ..session import SessionStore


def attach_session(
    request: HttpRequest, data: Mapping[str, Any] | None = None, *, sid: str | None = None
) -> SessionStore:
    """Set ``request.session`` and return it.

    The session is loaded from the store when ``sid`` (or else the request's session
    cookie) names a stored one, and is new otherwise. ``data`` is then set on it as a
    view would set it: in memory, saved only by ``session.save()``.
    """
    session = SessionStore.for_request(request, _session_id(request, sid))
    return _attached(request, session, data)


async def aattach_session(
    request: HttpRequest, data: Mapping[str, Any] | None = None, *, sid: str | None = None
) -> SessionStore:
    """``attach_session`` for async tests (the store is read with its async API)."""
    session = await SessionStore.afor_request(request, _session_id(request, sid))
    return _attached(request, session, data)


def _session_id(request: HttpRequest, sid: str | None) -> str | None:
    return sid if sid is not None else Incoming.parse(request, get_options()).cookie_sid


def _attached(
    request: HttpRequest, session: SessionStore, data: Mapping[str, Any] | None
) -> SessionStore:
    if data:
        session.update(data)
    request.session = session
    return session
