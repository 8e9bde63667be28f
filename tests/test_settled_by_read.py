"""A returning visitor's request that leaves the session as loaded, on a store that
refreshed the expiry while reading, is answered without gathering the decision's facts
or running the closing plan (``core.decide.settled_by_read``, the middleware's
``settled_answer``). Where that shortcut holds, ``decide`` must say the same; and every
request must end as it ends without the shortcut: the same response (status, cookie,
``Vary``) and the same record in the store, from sync and async views alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.http import HttpRequest, HttpResponse
from django.test import AsyncClient, Client
from django.urls import re_path
from hypothesis import given
from hypothesis import strategies as st

from django_express_session import middleware
from django_express_session.core.decide import Decision, Facts, decide, settled_by_read
from django_express_session.core.ops import Versioned
from django_express_session.core.state import SessionState
from django_express_session.lifetime import leave_untouched
from tests.helpers import configurer, cookie_header, outcome

HOUR_MS = 3_600_000

# -- the rule, on plain values -------------------------------------------------------------

LOADED = {"v": '"x"'}


def loaded_state(touched: bool, resave: bool, cookie_sid: str) -> SessionState:
    read = Versioned({"cookie": {}, "v": "x"}, version=1, touched=touched)
    return SessionState.loaded("sid", read, LOADED, cookie_sid=cookie_sid, resave=resave)


STATES: dict[str, Callable[[bool, bool], SessionState]] = {
    "loaded": lambda touched, resave: loaded_state(touched, resave, "sid"),
    "loaded, another cookie": lambda touched, resave: loaded_state(touched, resave, "old"),
    "clock restarted": lambda touched, resave: loaded_state(touched, resave, "sid").with_own(
        {"startedAt": 1}, changed=True
    ),
    "regenerated": lambda touched, resave: loaded_state(touched, resave, "sid").rotated("new"),
    "flushed": lambda touched, resave: loaded_state(touched, resave, "sid").ended("new"),
    "destroyed": lambda touched, resave: loaded_state(touched, resave, "sid").destroyed(),
    "detached": lambda touched, resave: loaded_state(touched, resave, "sid").detached(),
    "saved by hand": lambda touched, resave: loaded_state(touched, resave, "sid").saved_as(
        dict(LOADED)
    ),
    "new": lambda touched, resave: SessionState.new("sid"),
}
FINGERPRINTS = {
    "the loaded one": lambda state: state.original,
    "an equal copy": lambda state: dict(state.original),
    "another": lambda state: {"v": '"y"'},
}


@given(
    state_name=st.sampled_from(list(STATES)),
    touched=st.booleans(),
    resave=st.booleans(),
    fingerprint_name=st.sampled_from(list(FINGERPRINTS)),
    facts=st.builds(
        Facts,
        unset=st.just(False),
        had_cookie=st.booleans(),
        status_code=st.sampled_from([200, 302, 404, 500, 503]),
        secure_request=st.booleans(),
        accessed=st.booleans(),
        save_uninitialized=st.booleans(),
        rolling=st.booleans(),
        expiry_changed=st.booleans(),
        has_expiry=st.booleans(),
        cookie_secure=st.booleans(),
        passive=st.booleans(),
        touch_after_ms=st.sampled_from([0, HOUR_MS]),
        now_ms=st.just(1_000_000),
        visit_interval_ms=st.sampled_from([None, 0, HOUR_MS]),
    ),
)
def test_where_the_shortcut_holds_decide_sends_nothing_but_vary(
    state_name, touched, resave, fingerprint_name, facts
):
    state = STATES[state_name](touched, resave)
    fingerprint = FINGERPRINTS[fingerprint_name](state)
    settled = settled_by_read(
        state,
        fingerprint,
        expiry_changed=facts.expiry_changed,
        rolling=facts.rolling,
        tracks=facts.visit_interval_ms is not None,
        touch_after_ms=facts.touch_after_ms,
    )
    if settled:
        assert decide(state, fingerprint, facts) == Decision(vary=facts.accessed)


def test_the_shortcut_holds_for_an_unchanged_session_touched_while_read():
    state = loaded_state(touched=True, resave=False, cookie_sid="sid")
    rule = {"expiry_changed": False, "rolling": False, "tracks": False}
    assert settled_by_read(state, state.original, **rule, touch_after_ms=0)
    assert not settled_by_read(state, dict(state.original), **rule, touch_after_ms=0)
    assert not settled_by_read(state, state.original, **rule, touch_after_ms=HOUR_MS)
    untouched = loaded_state(touched=False, resave=False, cookie_sid="sid")
    assert not settled_by_read(untouched, untouched.original, **rule, touch_after_ms=0)


# -- the middleware, with and without it -----------------------------------------------------


def view(request: HttpRequest) -> HttpResponse:
    session = request.session
    status = 200
    match request.path:
        case "/noop":
            pass
        case "/read":
            session.get("n")
        case "/read-list":
            session.get("cart")
        case "/change-list":
            session["cart"].append(4)
        case "/write":
            session["n"] = session.get("n", 0) + 1
        case "/same":
            session["n"] = session.get("n")
        case "/expiry":
            session.set_expiry(600)
        case "/logout":
            session.flush()
        case "/unset":
            request.session = None
        case "/passive":
            session.get("n")
            leave_untouched(request)
        case "/error":
            session.get("n")
            status = 500
        case _:
            raise AssertionError(request.path)
    return HttpResponse("ok", status=status)


urlpatterns = [re_path(r"^", view)]

ROUTES = ["/noop", "/read", "/read-list", "/change-list", "/write", "/same", "/expiry",
          "/logout", "/unset", "/passive", "/error"]  # fmt: skip
OPTIONS = {
    "defaults": {},
    "rolling": {"rolling": True},
    "resave": {"resave": True},
    "touchAfter": {"touchAfter": 3600},
    "absoluteMaxAge": {"absoluteMaxAge": 2 * HOUR_MS},
    "track": {"track": ["ip", "userAgent"]},
}


@pytest.fixture(params=["redis", "database_postgres"])
def store_settings(request):
    return request.getfixturevalue(f"store_{request.param}")


@pytest.fixture
def configured(settings, store_settings) -> Callable[..., Any]:
    return configurer(settings, store_settings, __name__, cookie={"maxAge": HOUR_MS})


def ends(client: Any, route: str, sid: str, store: Any, *, asynchronous: bool) -> dict:
    store.set(sid, {
        "cookie": {"originalMaxAge": HOUR_MS, "expires": "2099-01-01T00:00:00.000Z",
                   "httpOnly": True, "path": "/"},
        "n": 1, "cart": [1, 2, 3],
    })  # fmt: skip
    if asynchronous:
        response = async_to_sync(client.get)(route, headers={"cookie": cookie_header(sid)})
    else:
        response = client.get(route, HTTP_COOKIE=cookie_header(sid))
    return outcome(response, store, sid)


def with_and_without_shortcut(monkeypatch, end: Callable[[bool], dict]) -> tuple[list, list]:
    """``end(shortcut)`` run with the shortcut, then without it: the two outcomes, and
    whether the shortcut answered each request of the first run."""
    outcomes, shortcuts = [], []
    real = middleware.settled_answer

    def watched(*arguments: Any) -> Any:
        answer = real(*arguments)
        shortcuts.append(answer is not None)
        return answer

    for shortcut in (True, False):
        monkeypatch.setattr(middleware, "settled_answer", watched if shortcut else lambda *a: None)
        outcomes.append(end(shortcut))
    return outcomes, shortcuts


@pytest.mark.parametrize("options", list(OPTIONS))
@pytest.mark.parametrize("route", ROUTES)
def test_a_request_ends_as_it_does_without_the_shortcut(configured, monkeypatch, options, route):
    def end(shortcut: bool) -> dict:
        store = configured(**OPTIONS[options])
        return ends(Client(), route, f"sid-{shortcut}", store, asynchronous=False)

    outcomes, shortcuts = with_and_without_shortcut(monkeypatch, end)
    assert outcomes[0] == outcomes[1]
    if options == "defaults" and route in ("/noop", "/read", "/passive"):
        assert shortcuts == [True]  # the shortcut ran


@pytest.mark.parametrize("route", ["/noop", "/read", "/write", "/logout"])
def test_an_async_view_ends_as_it_does_without_the_shortcut(
    configured, settings, monkeypatch, route
):
    settings.ROOT_URLCONF = "tests.settled_async_urls"

    def end(shortcut: bool) -> dict:
        return ends(AsyncClient(), route, f"async-{shortcut}", configured(), asynchronous=True)

    outcomes, shortcuts = with_and_without_shortcut(monkeypatch, end)
    assert outcomes[0] == outcomes[1]
    assert shortcuts == [route in ("/noop", "/read")]


@pytest.mark.parametrize(
    ("route", "built"), [("/noop", 0), ("/read", 0), ("/write", 1), ("/expiry", 1)]
)
def test_the_stored_cookie_is_built_only_for_a_request_that_needs_it(
    configured, monkeypatch, route, built
):
    """A request the shortcut answers neither sends nor changes the cookie: the stored
    one is never parsed (the outcomes are the closing plan's, which parses it, above)."""
    from django_express_session.cookie import Cookie

    parsed: list[dict] = []
    real = Cookie.from_json.__func__

    def counted(cls: type, data: dict, *arguments: Any, **options: Any) -> Cookie:
        parsed.append(data)
        return real(cls, data, *arguments, **options)

    monkeypatch.setattr(Cookie, "from_json", classmethod(counted))
    ends(Client(), route, "sid", configured(), asynchronous=False)
    assert len(parsed) == built
