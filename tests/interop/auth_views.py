"""The Django side of the passport interop tests: the routes of ``interop/node/passport.js``
(``/me``, ``/auth/login``, ``/auth/logout``), plus a password change, a user factory,
a user's sessions and "log out everywhere" for a user."""

from __future__ import annotations

from django.contrib import auth
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import User
from django.http import HttpRequest, JsonResponse

from django_express_session import users


class QuickPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    """Django's ``pbkdf2_sha256`` format (which the Express app verifies) with few
    iterations, so that the tests' logins take milliseconds."""

    iterations = 1000


def me(request: HttpRequest) -> JsonResponse:
    user = request.user
    name = user.get_username() if user.is_authenticated else None
    return JsonResponse({"user": name, "id": request.session.id})


def login(request: HttpRequest) -> JsonResponse:
    user = auth.authenticate(
        request, username=request.GET["username"], password=request.GET["password"]
    )
    if user is None:
        return JsonResponse({"user": None}, status=401)
    auth.login(request, user)
    return me(request)


def logout(request: HttpRequest) -> JsonResponse:
    auth.logout(request)
    return me(request)


def change_password(request: HttpRequest) -> JsonResponse:
    """What ``PasswordChangeView`` does: the new password, this session kept logged in."""
    user = request.user
    user.set_password(request.GET["password"])
    user.save()
    auth.update_session_auth_hash(request, user)
    return me(request)


def create_user(request: HttpRequest) -> JsonResponse:
    user = User.objects.create_user(request.GET["username"], password=request.GET["password"])
    return JsonResponse({"user": user.username})


def sessions(request: HttpRequest) -> JsonResponse:
    """The hints of the named user's sessions, as ``users.sessions_of`` lists them."""
    user = User.objects.get(username=request.GET["username"])
    return JsonResponse({"hints": [session.hint for session in users.sessions_of(user)]})


def logout_everywhere(request: HttpRequest) -> JsonResponse:
    """End every session of the named user (what an admin does), on both apps."""
    user = User.objects.get(username=request.GET["username"])
    return JsonResponse({"ended": users.logout_everywhere(user, request=request)})


def auth_age(request: HttpRequest) -> JsonResponse:
    """Seconds since the user last proved who they are, as ``request.session.auth_age``."""
    user = request.user
    name = user.get_username() if user.is_authenticated else None
    return JsonResponse({"user": name, "age": request.session.auth_age})
