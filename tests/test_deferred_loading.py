"""Under ``touchAfter``, a request whose cookie names a session this process saw refreshed
less than that long ago leaves the record unread until something uses the session: if
its view never does, express would do nothing with it, and neither is a read needed to
know so (``opening.defers_loading``).

Every case runs twice, deferring and not (the package's stock-client opener in the
chain turns deferral off), and must end the same: the same response (status, cookie,
``Vary``), the same data in the store, the same touch or none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import re_path

from django_express_session import conf, opening
from django_express_session.core.lifetime import RecentRefreshes, refreshed_at
from django_express_session.exceptions import StoreUnavailable
from django_express_session.testing import stock
from tests.helpers import (
    StoreSpy,
    configurer,
    cookie_header,
    express_session,
    set_cookie,
    sid_of,
    user_data,
)

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def view(request: HttpRequest) -> HttpResponse:
    """The routes of these tests, by path."""
    session = request.session
    match request.path:
        case "/noop":
            body = "ok"
        case "/read":
            body = str(session.get("n"))
        case "/write":
            session["n"] = session.get("n", 0) + 1
            body = str(session["n"])
        case "/id":
            body = str(session.session_key)
        case "/logout":
            session.flush()
            body = "bye"
        case "/unset":
            request.session = None
            body = "unset"
        case "/expiry":
            session.set_expiry(600)
            body = "expiry"
        case _:
            raise AssertionError(request.path)
    return HttpResponse(body)


urlpatterns = [re_path(r"^", view)]


@pytest.fixture(params=["memory", "file", "redis"])
def store_settings(request):
    return request.getfixturevalue(f"store_{request.param}")


@pytest.fixture
def configured(settings, store_settings) -> Callable[..., Any]:
    configure = configurer(
        settings, store_settings, __name__, cookie={"maxAge": DAY_MS}, touchAfter=3600
    )
    configure()
    return configure


@pytest.fixture
def middleware(configured) -> Iterator[Callable[[bool], Client]]:
    """A client of a site whose middleware defers reading (``True``) or not (the stock
    client's opener in its chain), its openers fixed by a first request."""
    was_enabled = stock.enabled()

    def build(deferring: bool) -> Client:
        (stock.disable if deferring else stock.enable)()
        client = Client()
        client.get("/noop")  # the middleware and its chain are made now
        return client

    yield build
    (stock.enable if was_enabled else stock.disable)()


def send(client: Client, path: str, sid: str | None = None) -> HttpResponse:
    return client.get(path, HTTP_COOKIE=cookie_header(sid) if sid else "")


def outcome(route: str, response: HttpResponse, store: Any, sid: str, writes: list[str]) -> dict:
    line = set_cookie(response)
    stored = store.read(sid)
    body = response.content
    if route == "/id":
        body = b"the cookie's id" if body == sid.encode() else b"another id"
    return {
        "status": response.status_code,
        "body": body,
        "cookie": None if line is None else ("cleared" if "=;" in line else sid_of(line) == sid),
        "vary": response.get("Vary"),
        "stored": None if stored is None else without_cookie(user_data(stored.record)),
        # Reads differ (that is the point); writes and touches may not.
        "writes": writes,
    }


def without_cookie(record: dict) -> dict:
    return {key: value for key, value in record.items() if key != "cookie"}


SITUATIONS = ["refreshed just now", "refreshed two hours ago", "ended elsewhere"]
ROUTES = ["/noop", "/read", "/write", "/id", "/logout", "/unset", "/expiry"]


@pytest.mark.parametrize("situation", SITUATIONS)
@pytest.mark.parametrize("route", ROUTES)
def test_deferring_ends_as_reading_at_once_does(middleware, session_clock, situation, route):
    outcomes = []
    for deferring in (True, False):
        session_clock.reset()
        served = middleware(deferring)
        store = conf.get_store()
        sid = sid_of(set_cookie(send(served, "/write")))
        assert sid is not None
        if situation == "refreshed two hours ago":
            session_clock.advance(2 * HOUR_MS)
        elif situation == "ended elsewhere":
            store.destroy(sid)
        with pytest.MonkeyPatch.context() as monkeypatch:
            calls = StoreSpy(monkeypatch)
            response = send(served, route, sid)
            writes = [call for call in calls.take() if call != "get"]
        outcomes.append(outcome(route, response, store, sid, writes))
    deferred, read_at_once = outcomes
    assert deferred == read_at_once


def test_an_unused_session_costs_no_store_call_within_touch_after(middleware, monkeypatch):
    served = middleware(True)
    sid = sid_of(set_cookie(send(served, "/write")))
    calls = StoreSpy(monkeypatch)
    response = send(served, "/noop", sid)
    assert calls.take() == []
    assert set_cookie(response) is None and not response.has_header("Vary")
    assert send(served, "/read", sid).content == b"1"
    assert calls.take() in (["get"], ["get", "touch"])  # read when used; no touch is due


def test_a_touch_comes_due_and_the_record_is_read_and_touched(
    middleware, session_clock, monkeypatch, store_settings
):
    served = middleware(True)
    sid = sid_of(set_cookie(send(served, "/write")))
    session_clock.advance(2 * HOUR_MS)
    calls = StoreSpy(monkeypatch)
    send(served, "/noop", sid)
    # Read, and touched (but Redis's clock did not move: its TTL says the touch can wait).
    redis = store_settings["backend"] == "redis"
    assert calls.take() == (["get"] if redis else ["get", "touch"])
    send(served, "/noop", sid)  # refreshed now, as far as this process knows: nothing
    assert calls.take() == []


def test_the_store_down_at_first_use_gives_a_503_and_keeps_the_cookie(middleware, monkeypatch):
    served = middleware(True)
    store = conf.get_store()
    sid = sid_of(set_cookie(send(served, "/write")))

    def down(*args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailable("the session store is unreachable: test")

    monkeypatch.setattr(store, "perform", down)
    response = send(served, "/read", sid)
    assert response.status_code == 503 and set_cookie(response) is None
    assert response["Retry-After"] == "1"
    monkeypatch.undo()
    assert send(served, "/read", sid).content == b"1"  # nothing was lost


def test_the_store_down_when_a_touch_comes_due_gives_a_503(middleware, session_clock, monkeypatch):
    served = middleware(True)
    store = conf.get_store()
    sid = sid_of(set_cookie(send(served, "/write")))
    session_clock.advance(2 * HOUR_MS)

    def down(*args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailable("the session store is unreachable: test")

    monkeypatch.setattr(store, "perform", down)
    response = send(served, "/noop", sid)
    assert response.status_code == 503 and set_cookie(response) is None


@pytest.mark.parametrize(
    "options",
    [
        {"rolling": True},
        {"resave": True},
        {"saveUninitialized": True},
        {"absoluteMaxAge": 86_400},
        {"track": ["ip"]},
        {"passport": {"field": "username"}},
        {"storeUnavailable": "continue"},
        {"header": "X-Session-Id"},
        {"migrateFrom": {"engine": "django.contrib.sessions.backends.signed_cookies"}},
        {"touchAfter": 0},
    ],
    ids=lambda options: next(iter(options)),
)
def test_options_that_need_the_record_at_the_start_read_it_there(configured, options):
    configured(**options)
    options_now = conf.get_options()
    assert (
        not opening.defers_loading(options_now, opening.openers(options_now), conf.get_store())
        or stock.enabled()
    )


def test_the_database_store_is_read_at_the_start(settings, store_database_sqlite):
    settings.EXPRESS_SESSION = express_session(store=store_database_sqlite, touchAfter=3600)
    options = conf.get_options()
    chain = (opening.ExpressCookie(),)
    assert not opening.defers_loading(options, chain, conf.get_store())
    settings.EXPRESS_SESSION = express_session(touchAfter=3600)
    assert opening.defers_loading(conf.get_options(), chain, conf.get_store())


def test_recent_refreshes_keep_the_last_sessions_seen():
    recent = RecentRefreshes(limit=2)
    recent.saw("a", 1_000)
    recent.saw("b", 2_000)
    recent.saw("a", 3_000)  # seen again: now the newest
    recent.saw("c", 4_000)  # over the limit: "b", the oldest, goes
    assert recent.spares("a", 3_500, 1_000) and recent.spares("c", 4_500, 1_000)
    assert not recent.spares("b", 2_500, 1_000)
    assert not recent.spares("a", 4_000, 1_000)  # touchAfter has passed
    recent.forget("a")
    assert not recent.spares("a", 3_500, 1_000)


def test_when_the_store_refreshed_is_what_a_touch_due_check_would_say():
    assert refreshed_at(now=10_000, fresh=None, held=None, touched_at=7_000) == 7_000
    assert refreshed_at(now=10_000, fresh=110_000, held=104_000, touched_at=None) == 4_000
    assert refreshed_at(now=10_000, fresh=None, held=104_000, touched_at=None) is None
