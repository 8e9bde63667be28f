"""Recent authentication (step-up): when the user last proved who they are.

``login()`` and ``request.session.mark_authenticated()`` (a view that re-checked the
password, or a second factor) record the moment as ``authAt`` (epoch ms) in the
record's ``djangoExpressSession`` dict, which the Express app carries through and whose
npm package reads and writes alike (``authAge``, ``markAuthenticated``,
``requireRecentAuth``). ``request.session.auth_age`` is the seconds since, and the
view decorator ``decorators.recent_auth`` sends a session whose proof is older than a
view allows back to the login page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest

from .core.state import own_moment

#: The key of the moment in the record's ``djangoExpressSession`` dict.
AUTH_AT = "authAt"


def authenticated(own: Mapping[str, Any] | None, now_ms: int) -> dict[str, Any]:
    """``own`` (the record's own dict) with the user's proof at ``now_ms``."""
    return {**(own or {}), AUTH_AT: now_ms}


def auth_age(own: Mapping[str, Any] | None, now_ms: int) -> int | None:
    """Whole seconds since the user last proved who they are (0 for a moment ahead of
    this clock, another server's), or None if never."""
    at = own_moment(own, AUTH_AT)
    return None if at is None else max(0, (now_ms - at) // 1000)


def stamp_login(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    """``user_logged_in``: a login is a proof (connected in ``AppConfig.ready``)."""
    mark = getattr(getattr(request, "session", None), "mark_authenticated", None)
    if callable(mark):
        mark()
