"""Views a project can include: ``session_status``, for "your session is about to
expire" banners.

``path("session/", include("django_express_session.urls"))`` serves it at
``session/status``. The view reads the session without touching it: the middleware does
not save it, does not refresh its expiry in the store (not even on Redis, whose read
would), and sends no cookie, so polling never keeps a session alive.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from .lifetime import leave_untouched, untouched


@untouched
@never_cache
def session_status(request: HttpRequest) -> JsonResponse:
    """``{"active": bool, "expires_in": s | null, "absolute_expires_in": s | null}``:
    whether the browser's cookie names a live session, the whole seconds until it ends
    by either clock (idle or absolute), and until its absolute cap alone."""
    leave_untouched(request)
    session = getattr(request, "session", None)
    active = bool(session is not None and session.state.stored)
    return JsonResponse(
        {
            "active": active,
            "expires_in": session.expires_in if active else None,
            "absolute_expires_in": session.absolute_expires_in if active else None,
        }
    )
