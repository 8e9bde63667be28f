"""Session lifetimes on the Django side: ``login()`` restarts the absolute clock, and a
view can ask to leave the session as it is (the store gets its ``Lifetime`` when
``conf`` builds it).

The rules themselves (when the cap is reached, how it clamps an expiry, when a touch is
due under ``touchAfter``) are ``core.lifetime``'s; the session applies them.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import Resolver404, get_resolver, resolve

#: Set on a request whose view must leave the session as it is (``leave_untouched``).
PASSIVE_ATTRIBUTE = "_express_session_passive"

#: Whether any view of this process is decorated ``untouched``: until one is, no request
#: needs its URL resolved before the view to find out.
_untouched_views = False


def leave_untouched(request: HttpRequest) -> None:
    """Mark ``request`` so that the session middleware neither saves nor touches the
    session nor sends its cookie (a session that ended is still cleared)."""
    setattr(request, PASSIVE_ATTRIBUTE, True)


def is_passive(request: HttpRequest | None, *, before_view: bool = False) -> bool:
    """The request is marked, or its view is decorated with ``untouched``. Before the
    view runs (for a store that refreshes the expiry while reading, Redis) the URL is
    resolved to find the view; afterwards Django's ``resolver_match`` says."""
    if request is None:
        return False
    if getattr(request, PASSIVE_ATTRIBUTE, False):
        return True
    match = getattr(request, "resolver_match", None)
    if match is None and before_view:
        urlconf = getattr(request, "urlconf", None)
        get_resolver(urlconf).url_patterns  # noqa: B018 (imports the views: cached)
        if not _untouched_views:
            return False  # the common case: an extra resolve per request saved
        try:
            match = resolve(request.path_info, urlconf)
        except Resolver404:
            return False
    return match is not None and bool(getattr(match.func, PASSIVE_ATTRIBUTE, False))


def untouched(view: Any) -> Any:
    """Decorate a view that must leave the session as it is (a status poll)."""
    global _untouched_views
    _untouched_views = True
    setattr(view, PASSIVE_ATTRIBUTE, True)
    return view


def restart_on_login(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    """``user_logged_in``: with ``absoluteMaxAgeFrom: "login"``, the absolute clock
    restarts at login."""
    session = getattr(request, "session", None)
    options = getattr(session, "options", None)
    if options is not None and options.lifetime.restarts_at_login:
        session.restart_lifetime()
