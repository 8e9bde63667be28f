"""The demo page: the session as express-session and its store see it.

What an action did is told on the page it redirects to by a ``done`` code in the URL,
not by a message in the session: ``destroy()`` leaves no session to carry one, and a
message would turn ``touch()`` into a full save of the record.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import authenticate, login, logout
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from django_express_session import conf
from django_express_session.cookie import Cookie

from .forms import LoginForm, MaxAgeForm
from .record_keys import split

DONE = {
    "regenerated": "regenerate(): the session has a new id; the old record was destroyed "
    "and its data dropped (a login with it).",
    "destroyed": "destroy(): the record was removed from the store and the cookie cleared. "
    "This page did not write to the new session, so nothing is stored: reload to start one.",
    "touched": "touch(): the expiry restarted from now (originalMaxAge: {idle}). Every "
    "request does the same as it ends (express-session's idle timeout); touch() does it "
    "at once.",
    "max-age": "cookie.max_age set: the session now ends {idle} after each request, and "
    "the browser got the new expiry.",
    "logged-in": "Logged in as {user}: login() gave the session a new id (cycle_key) and "
    "kept its data.",
    "logged-out": "Logged out: logout() destroyed the record and started an empty session.",
}


def _cookie_rows(cookie: Cookie) -> list[tuple[str, object]]:
    """``max_age`` (the countdown) and what the store holds under ``cookie``."""
    stored = cookie.to_json()
    names = ("originalMaxAge", "expires", "httpOnly", "secure", "path", "domain", "sameSite")
    return [("maxAge (ms left)", cookie.max_age)] + [
        (name, stored.get(name, "(not set)")) for name in names
    ]


def _idle(cookie: Cookie) -> str:
    idle_ms = cookie.original_max_age
    return f"{idle_ms} ms" if idle_ms else "none, a browser-session cookie"


def _as_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def _page(
    request: HttpRequest,
    *,
    max_age_form: MaxAgeForm | None = None,
    login_form: LoginForm | None = None,
    status: int = 200,
) -> HttpResponse:
    session = request.session
    code = request.GET.get("done", "")
    done = DONE.get(code)
    # A visit is counted (and so the session saved) unless the page shows a form error,
    # which changes nothing, or follows destroy(), which is shown leaving no session.
    if status == 200 and code != "destroyed":
        session["views"] = session.get("views", 0) + 1
    store = conf.get_store()
    stored = store.get(session.id) if session.state.stored else None
    data, added = split(stored, store.metadata_keys) if stored else ({}, [])
    context = {
        "session": session,
        "views": session.get("views", 0),
        "done": done and done.format(idle=_idle(session.cookie), user=request.user),
        "cookie_rows": _cookie_rows(session.cookie),
        "stored_json": _as_json(stored) if stored else None,
        "data_json": _as_json(data),
        "added_keys": [(key, _as_json(value), what) for key, value, what in added],
        "will_be_stored": session.modified or conf.get_options().save_uninitialized,
        "store_name": store.name,
        "options": conf.get_options(),
        "max_age_form": max_age_form
        or MaxAgeForm(initial={"max_age_ms": session.cookie.original_max_age or 120_000}),
        "login_form": login_form or LoginForm(),
    }
    return render(request, "demo/index.html", context, status=status)


def index(request: HttpRequest) -> HttpResponse:
    return _page(request)


def _done(code: str) -> HttpResponse:
    return redirect(f"{reverse('index')}?done={code}")


@require_POST
def action(request: HttpRequest, name: str) -> HttpResponse:
    session = request.session
    if name == "regenerate":
        session.regenerate()
        return _done("regenerated")
    if name == "destroy":
        session.destroy()
        return _done("destroyed")
    if name == "touch":
        session.touch()
        return _done("touched")
    if name == "maxage":
        form = MaxAgeForm(request.POST)
        if not form.is_valid():
            return _page(request, max_age_form=form, status=400)
        session.cookie.max_age = form.cleaned_data["max_age_ms"]
        return _done("max-age")
    raise Http404(f"no action {name!r}")


@require_POST
def login_view(request: HttpRequest) -> HttpResponse:
    form = LoginForm(request.POST)
    user = form.is_valid() and authenticate(request, **form.cleaned_data)
    if not user:
        if form.is_valid():
            form.add_error(None, "Wrong user name or password (try demo / demo).")
        return _page(request, login_form=form, status=400)
    login(request, user)
    return _done("logged-in")


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return _done("logged-out")
