"""Views a project can include (``path("account/", include("django_express_session.urls"))``):

* ``session_status``, for "your session is about to expire" banners. It reads the
  session without touching it: the middleware does not save it, does not refresh its
  expiry in the store (not even on Redis, whose read would), and sends no cookie, so
  polling never keeps a session alive.
* ``your_sessions``, the logged-in user's live sessions ("see my active devices"), with
  ``end_other_sessions`` ("log out of other sessions") and ``end_session`` (one of them,
  by its ``UserSession.ref``). The template is ``django_express_session/sessions.html``
  (over ``django_express_session/base.html``), for a project to override.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.messages import get_messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_POST

from . import users
from .lifetime import leave_untouched, untouched

SESSIONS_TEMPLATE = "django_express_session/sessions.html"


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


def _cannot_list(error: NotImplementedError) -> str:
    return str(error) or "this session store cannot list sessions"


@never_cache
@login_required
def your_sessions(request: HttpRequest) -> HttpResponse:
    """The user's live sessions, this browser's first. Context: ``sessions``,
    ``current`` (this browser's, or None), ``others`` (how many more), ``cannot_list``
    (why the store cannot list them, or None), ``messages``."""
    context: dict[str, Any] = {"sessions": [], "current": None, "others": 0, "cannot_list": None}
    try:
        sessions = users.sessions_of(request.user, request, thorough=True)
    except NotImplementedError as error:
        context["cannot_list"] = _cannot_list(error)
    else:
        current = next((s for s in sessions if s.current), None)
        context.update(
            sessions=sessions,
            current=current,
            others=len(sessions) - (current is not None),
        )
    context["messages"] = get_messages(request)
    return render(request, SESSIONS_TEMPLATE, context)


def _to_the_list(request: HttpRequest) -> HttpResponse:
    namespace = request.resolver_match.namespace if request.resolver_match else None
    return HttpResponseRedirect(reverse("express_session:sessions", current_app=namespace))


def _say(request: HttpRequest, level: int, text: str) -> None:
    # fail_silently: a project without django.contrib.messages still ends sessions.
    messages.add_message(request, level, text, fail_silently=True)


@require_POST
@csrf_protect
@login_required
def end_other_sessions(request: HttpRequest) -> HttpResponse:
    """End every session of the user but this browser's."""
    try:
        ended = users.logout_everywhere(request.user, keep=request.session, request=request)
    except NotImplementedError as error:
        _say(request, messages.ERROR, f"No session was ended: {_cannot_list(error)}.")
    else:
        plural = "" if ended == 1 else "s"
        _say(request, messages.SUCCESS, f"Logged out of {ended} other session{plural}.")
    return _to_the_list(request)


@require_POST
@csrf_protect
@login_required
def end_session(request: HttpRequest, ref: str) -> HttpResponse:
    """End the user's session ``ref``; this browser's own is ended by logging out."""
    sid = request.session.session_key
    if sid is not None and users.ref_of(sid) == ref:
        _say(request, messages.WARNING, "That is this browser's session: log out to end it.")
        return _to_the_list(request)
    try:
        ended = users.end_session(request.user, ref, request=request)
    except NotImplementedError as error:
        _say(request, messages.ERROR, f"No session was ended: {_cannot_list(error)}.")
    else:
        if ended:
            _say(request, messages.SUCCESS, "The session was ended.")
        else:
            _say(request, messages.WARNING, "That session had already ended.")
    return _to_the_list(request)
