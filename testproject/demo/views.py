"""The demo page: the session as express-session and its store see it."""

import json

from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from django_express_session import conf
from django_express_session.cookie import Cookie


def _cookie_rows(cookie: Cookie) -> list[tuple[str, object]]:
    """``max_age`` (the countdown) and what the store holds under ``cookie``."""
    stored = cookie.to_json()
    names = ("originalMaxAge", "expires", "httpOnly", "secure", "path", "domain", "sameSite")
    return [("maxAge (ms left)", cookie.max_age)] + [
        (name, stored.get(name, "(not set)")) for name in names
    ]


def index(request: HttpRequest) -> HttpResponse:
    session = request.session
    session["views"] = session.get("views", 0) + 1
    stored = conf.get_store().get(session.id) if session.state.stored else None
    context = {
        "session": session,
        "views": session["views"],
        "cookie_rows": _cookie_rows(session.cookie),
        "stored_json": json.dumps(stored, indent=2, ensure_ascii=False) if stored else None,
        "store_name": conf.get_store().name,
        "options": conf.get_options(),
    }
    return render(request, "demo/index.html", context)


@require_POST
def action(request: HttpRequest, name: str) -> HttpResponse:
    session = request.session
    if name == "regenerate":
        session.regenerate()
        messages.info(request, "New session id; the old record was destroyed.")
    elif name == "destroy":
        session.destroy()
        return redirect("index")
    elif name == "touch":
        session.touch()
        messages.info(request, "Cookie expiry reset to originalMaxAge from now.")
    elif name == "maxage":
        session.cookie.max_age = int(request.POST.get("max_age_ms") or 60_000)
        messages.info(request, f"cookie.max_age set to {session.cookie.original_max_age} ms.")
    return redirect("index")


@require_POST
def login_view(request: HttpRequest) -> HttpResponse:
    user = authenticate(
        request, username=request.POST.get("username"), password=request.POST.get("password")
    )
    if user is None:
        messages.error(request, "Wrong user name or password (try demo / demo).")
    else:
        login(request, user)
        messages.success(request, f"Logged in as {user.username}: the session id changed.")
    return redirect("index")


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    messages.info(request, "Logged out: the session was flushed.")
    return redirect("index")
