"""The views of the session policy tests (``ROOT_URLCONF`` = this module)."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.contrib import auth
from django.http import HttpRequest, JsonResponse
from django.urls import path

from django_express_session.decorators import recent_auth
from django_express_session.limits import SessionLimitReached
from tests.identity_support import urlpatterns as identity_urlpatterns


def _state(request: HttpRequest, user) -> JsonResponse:
    return JsonResponse(
        {
            "user": user.get_username() if user.is_authenticated else None,
            "id": request.session.id,
            "auth_age": request.session.auth_age,
        }
    )


def login(request: HttpRequest) -> JsonResponse:
    """A login view that shows the limit's refusal, as a project's would."""
    user = auth.authenticate(request, username=request.GET["username"], password="pw")
    try:
        auth.login(request, user)
    except SessionLimitReached as refusal:
        return JsonResponse({"error": str(refusal), "user": None}, status=403)
    return _state(request, request.user)


async def alogin(request: HttpRequest) -> JsonResponse:
    user = await sync_to_async(auth.authenticate)(
        request, username=request.GET["username"], password="pw"
    )
    try:
        await auth.alogin(request, user)
    except SessionLimitReached as refusal:
        return JsonResponse({"error": str(refusal), "user": None}, status=403)
    return _state(request, await request.auser())


def state(request: HttpRequest) -> JsonResponse:
    return _state(request, request.user)


def confirm(request: HttpRequest) -> JsonResponse:
    """A password re-check that succeeded."""
    request.session.mark_authenticated()
    return _state(request, request.user)


@recent_auth(max_age=60)
def sensitive(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


@recent_auth(max_age=60, login_url="/reauth")
async def asensitive(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


urlpatterns = [
    *identity_urlpatterns,
    path("plogin", login),
    path("palogin", alogin),
    path("state", state),
    path("confirm", confirm),
    path("sensitive", sensitive),
    path("asensitive", asensitive),
]
