"""View decorators of the session policies: ``recent_auth``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponseBase

View = Callable[..., Any]


def _seconds(max_age: Any) -> float:
    if isinstance(max_age, timedelta):
        max_age = max_age.total_seconds()
    if isinstance(max_age, bool) or not isinstance(max_age, (int, float)) or max_age < 0:
        raise TypeError(
            f"recent_auth(max_age=...) takes seconds (0 or more) or a timedelta, not {max_age!r}"
        )
    return max_age


def is_recent(request: HttpRequest, user: Any, max_age: float) -> bool:
    """The user is logged in and proved who they are at most ``max_age`` seconds ago."""
    if not getattr(user, "is_authenticated", False):
        return False
    age = getattr(getattr(request, "session", None), "auth_age", None)
    return age is not None and age <= max_age


def recent_auth(
    *,
    max_age: float | timedelta,
    login_url: str | None = None,
    redirect_field_name: str = REDIRECT_FIELD_NAME,
) -> Callable[[View], View]:
    """Serve the view only to a user who proved who they are (``login()``, or
    ``request.session.mark_authenticated()``) at most ``max_age`` seconds ago; send
    anyone else to ``login_url`` (``settings.LOGIN_URL`` by default) with the page to
    come back to, as ``login_required`` does. Sync and async views alike."""
    seconds = _seconds(max_age)

    def stale(request: HttpRequest) -> HttpResponseBase:
        return redirect_to_login(
            request.get_full_path(), login_url or settings.LOGIN_URL, redirect_field_name
        )

    def decorator(view: View) -> View:
        if iscoroutinefunction(view):

            @wraps(view)
            async def checked_async(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                if not is_recent(request, await request.auser(), seconds):
                    return stale(request)
                return await view(request, *args, **kwargs)

            return checked_async

        @wraps(view)
        def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if not is_recent(request, request.user, seconds):
                return stale(request)
            return view(request, *args, **kwargs)

        return checked

    return decorator
