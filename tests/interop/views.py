"""The Django side of the interop tests: the routes of ``interop/node/app.js``, written
the way a Django project would, so one test drives either app with the same requests."""

from __future__ import annotations

import json
from datetime import datetime

from django.contrib import auth
from django.contrib.auth.models import User
from django.http import HttpRequest, JsonResponse

from django_express_session.record import format_js_date


def session_view(request: HttpRequest) -> dict:
    session = request.session
    cookie = session.cookie
    expires = cookie.expires
    return {
        "id": session.id,
        "data": dict(session.items()),
        "cookie": {
            "originalMaxAge": cookie.original_max_age,
            "expires": format_js_date(expires) if isinstance(expires, datetime) else expires,
            "maxAge": cookie.max_age,
        },
    }


def ended() -> JsonResponse:
    return JsonResponse({"id": None, "data": None})


def set_from_query(request: HttpRequest) -> None:
    for key, value in request.GET.items():
        if key == "json":
            request.session.update(json.loads(value))
        else:
            request.session[key] = value


def show(request: HttpRequest) -> JsonResponse:
    return JsonResponse(session_view(request))


def whoami(request: HttpRequest) -> JsonResponse:
    """The Django user, or the user an Express app logged in with passport."""
    if request.user.is_authenticated:
        return JsonResponse({"user": request.user.get_username()})
    passport = request.session.get("passport") or {}
    return JsonResponse({"user": passport.get("user")})


def set_keys(request: HttpRequest) -> JsonResponse:
    set_from_query(request)
    return show(request)


def delete_key(request: HttpRequest) -> JsonResponse:
    request.session.pop(request.GET["key"], None)
    return show(request)


def save(request: HttpRequest) -> JsonResponse:
    set_from_query(request)
    request.session.save()
    return show(request)


def max_age(request: HttpRequest) -> JsonResponse:
    ms = request.GET["ms"]
    request.session.cookie.max_age = None if ms == "null" else int(ms)
    return show(request)


def regenerate(request: HttpRequest) -> JsonResponse:
    request.session.regenerate()
    return show(request)


def login(request: HttpRequest) -> JsonResponse:
    """``django.contrib.auth.login``: rotates the id (``cycle_key``), keeps the data and
    writes ``_auth_user_id``."""
    user, _ = User.objects.get_or_create(username=request.GET["user"])
    auth.login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return show(request)


def destroy(request: HttpRequest) -> JsonResponse:
    request.session.destroy()
    return ended()


def logout(request: HttpRequest) -> JsonResponse:
    """``django.contrib.auth.logout``: ``flush()`` ends the session."""
    auth.logout(request)
    return ended()


def fail(request: HttpRequest) -> JsonResponse:
    set_from_query(request)
    return JsonResponse({"error": "failed on purpose"}, status=500)
