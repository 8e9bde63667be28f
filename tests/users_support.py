"""The views of the ``users`` tests (``ROOT_URLCONF`` = this module): the identity
tests' login views, and views that end sessions from inside a request."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path

from django_express_session import users
from tests.identity_support import urlpatterns as identity_urlpatterns


def _keep(request: HttpRequest):
    return {"self": request.session, "none": None}.get(request.GET.get("keep", "none"))


def logout_everywhere(request: HttpRequest) -> JsonResponse:
    """End the user's sessions, then write to this request's session, as a view that
    goes on after the call would."""
    ended = users.logout_everywhere(request.user, keep=_keep(request), request=request)
    request.session["written_after"] = True
    return JsonResponse({"ended": ended})


async def alogout_everywhere(request: HttpRequest) -> JsonResponse:
    user = await request.auser()
    ended = await users.alogout_everywhere(user, keep=_keep(request), request=request)
    request.session["written_after"] = True
    return JsonResponse({"ended": ended})


def listed(request: HttpRequest) -> JsonResponse:
    sessions = users.sessions_of(request.user, request)
    return JsonResponse({"sessions": [{"ref": s.ref, "current": s.current} for s in sessions]})


def end_session(request: HttpRequest) -> JsonResponse:
    ended = users.end_session(request.user, request.GET["ref"], request=request)
    return JsonResponse({"ended": ended})


urlpatterns = [
    *identity_urlpatterns,
    path("everywhere", logout_everywhere),
    path("aeverywhere", alogout_everywhere),
    path("sessions", listed),
    path("end", end_session),
]
