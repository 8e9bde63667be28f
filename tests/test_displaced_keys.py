"""A view that sets keys of a session it read, and hands out nothing else, is decided
and written from the fingerprints of those keys alone (the session keeps what they
held when it was bound). Every such request must end as it ends when the whole
fingerprint is computed at once, as it is once the data is handed out (``items()``
here): the same response (status, cookie, ``Vary``) and the same record in the store.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import re_path
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_express_session.session import SessionStore
from tests.helpers import configurer, cookie_header, outcome

HOUR_MS = 3_600_000
EXPIRES = "2099-01-01T00:00:00.000Z"
STORED = {"n": 1, "price": 9, "cart": [1, 2, 3], "user": {"id": 7}, "name": "ada"}

#: The steps of the view: the script of the request under test.
script: list[tuple[Any, ...]] = []
#: Whether the view first hands the whole data out (the way without the shortcut).
hand_out_first = False


def view(request: HttpRequest) -> HttpResponse:
    session = request.session
    if hand_out_first:
        session.items()
    for step, *arguments in script:
        match step:
            case "set":
                key, value = arguments
                session[key] = copy.deepcopy(value)  # (the script's own stays as it is)
            case "get":
                session.get(arguments[0])
            case "append":  # a value handed out, then changed in place
                cart = session.get("cart")
                if isinstance(cart, list):
                    cart.append(arguments[0])
            case "delete":
                session.pop(arguments[0], None)
            case "save":
                session.save()
            case "not modified":
                session.modified = False
            case "clear":
                session.clear()
    return HttpResponse("ok")


urlpatterns = [re_path(r"^", view)]

KEYS = ["n", "price", "cart", "user", "name", "new", "other"]
VALUES = st.sampled_from([1, 1.0, 2, 9, 9.0, 9.5, "ada", "bob", None, True, [1, 2, 3], [3, 2, 1],
                          {"id": 7}, {"id": 8}, []])  # fmt: skip
SETTING = st.tuples(st.just("set"), st.sampled_from(KEYS), VALUES)
STEPS = st.one_of(
    SETTING,
    st.tuples(st.just("get"), st.sampled_from(KEYS)),
    st.tuples(st.just("append"), st.integers(0, 3)),
    st.tuples(st.just("delete"), st.sampled_from(KEYS)),
    st.just(("save",)),
    st.just(("not modified",)),
    st.just(("clear",)),
)
#: Scripts that set a key first: the shortcut's case (and, later, whatever ends it).
SCRIPTS = st.tuples(SETTING, st.lists(STEPS, max_size=4)).map(lambda s: [s[0], *s[1]])
OPTIONS = {
    "defaults": {},
    "rolling": {"rolling": True},
    "resave": {"resave": True},
    "touchAfter": {"touchAfter": 3600},
    "track": {"track": ["ip", "userAgent"]},
}


@pytest.fixture(params=["memory", "redis"])
def configured(request, settings) -> Callable[..., Any]:
    store_settings = request.getfixturevalue(f"store_{request.param}")
    return configurer(settings, store_settings, __name__, cookie={"maxAge": HOUR_MS})


def ends(store: Any, sid: str) -> dict:
    store.set(sid, {
        "cookie": {"originalMaxAge": HOUR_MS, "expires": EXPIRES,
                   "httpOnly": True, "path": "/"},
        **STORED,
    })  # fmt: skip
    response = Client().get("/", HTTP_COOKIE=cookie_header(sid))
    stored = store.read(sid)
    # Written, or touched, or neither: not when.
    kept = None if stored is None else stored.record["cookie"].get("expires") == EXPIRES
    return {**outcome(response, store, sid), "expiry kept": kept}


def with_and_without_shortcut(monkeypatch, steps: list, end: Callable[[str], dict]) -> list:
    """``end(sid)`` after the view runs ``steps`` with the shortcut, then handing the
    data out first: the two outcomes; and how often the shortcut answered."""
    global hand_out_first
    answered: list[bool] = []
    real = SessionStore._fingerprint_of_displaced

    def watched(self: SessionStore, *arguments: Any) -> Any:
        answered.append(True)
        return real(self, *arguments)

    monkeypatch.setattr(SessionStore, "_fingerprint_of_displaced", watched)
    script[:] = steps
    outcomes = []
    try:
        for first in (False, True):
            hand_out_first = first
            outcomes.append(end(f"sid-{first}"))
    finally:
        hand_out_first = False
        script.clear()
    return [*outcomes, len(answered)]


@pytest.mark.parametrize("options", list(OPTIONS))
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=SCRIPTS)
def test_a_request_that_sets_keys_ends_as_without_the_shortcut(
    configured, monkeypatch, options, steps
):
    store = configured(**OPTIONS[options])
    fast, slow, _ = with_and_without_shortcut(monkeypatch, steps, lambda sid: ends(store, sid))
    assert fast == slow


@pytest.mark.parametrize(
    "steps",
    [
        [("set", "n", 2)],
        [("set", "n", 1)],  # the same value: nothing changed
        [("set", "price", 9.0)],  # 9.0 is 9 in JSON: nothing changed
        [("set", "new", 1), ("set", "n", 5)],
        [("get", "n"), ("set", "cart", [3]), ("get", "name")],
    ],
    ids=["a new value", "the same value", "an equal float", "a new key", "reads between"],
)
def test_the_shortcut_answers_a_view_that_only_sets_keys(configured, monkeypatch, steps):
    store = configured()
    fast, slow, answered = with_and_without_shortcut(
        monkeypatch, steps, lambda sid: ends(store, sid)
    )
    assert fast == slow
    assert answered == 1  # with the shortcut only


def test_a_key_set_to_its_value_saves_nothing(configured, monkeypatch):
    store = configured()
    fast, slow, _ = with_and_without_shortcut(
        monkeypatch, [("set", "cart", [1, 2, 3])], lambda sid: ends(store, sid)
    )
    assert fast == slow
    assert fast["cookie"] is None and fast["stored"] == STORED
