"""The npm package's ``guard()`` on the real Express app (passport 0.7 over Django's user
table), seen from both apps on one store: the absolute cap of a login made on either
app, passport's login keeping or restarting the clock as Django's ``login()`` does, and
the client details the Express app records, as ``users.describe`` and ``sessions_of``
show them.

(The password-change logout through ``guard()`` is ``test_passport_login``'s.)
"""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from django_express_session import conf, users
from django_express_session.core.state import OWN_KEY
from testproject.settings import SECRET_KEY
from tests.helpers import express_session

from .conftest import SHARED_STORES, Browser
from .test_logout_everywhere_thorough import new_user
from .test_passport_login import SIDES, STORES, side

pytestmark = pytest.mark.interop

PASSPORT = {"field": "username"}
CAP_MS = 6000  # time enough to log in and look first, even on a busy machine
PASSWORD = "pw"  # new_user's


def now_ms() -> int:
    return int(time.time() * 1000)


# The stores this process opens as well, to list a user's sessions (PostgreSQL's would
# need the apps' database among this process's DATABASES).
LISTING_STORES = [name for name in ("redis", "file", "mongodb") if name in SHARED_STORES]


def with_users(request, users_database):
    store = request.getfixturevalue(f"interop_store_{request.param}")
    return replace(
        store, databases={**(store.databases or {}), "default": users_database["django"]}
    )


@pytest.fixture(params=STORES)
def spec(request, users_database):
    return with_users(request, users_database)


@pytest.fixture(params=LISTING_STORES)
def listing_spec(request, users_database):
    return with_users(request, users_database)


def passport_apps(spec, apps, users_database):
    """``passport_apps(**options)``: both apps with passport on ``spec``, and those
    options (``node=``/``django=`` for one side) besides."""

    def start(*, node=None, django=None, **options):
        return apps(
            spec,
            django={"passport": PASSPORT, **(django or {})},
            node={
                "passport": {"users": users_database["url"], "djangoSecretKey": SECRET_KEY},
                **(node or {}),
            },
            **options,
        )

    return start


def logged_in(browser: Browser, app, name: str) -> str:
    """Log ``name`` in on ``app``; the session cookie as the browser would send it."""
    response = browser.get(app, "/auth/login", username=name, password=PASSWORD)
    assert response.status == 200, (app, response.body)
    return f"connect.sid={browser.value()}"


def own_dict(pair, cookie: str) -> dict:
    """The record's ``djangoExpressSession`` dict, as the Express app reads it."""
    return browser_get(pair.node, "/session", cookie)["data"][OWN_KEY]


def browser_get(app, path: str, cookie: str) -> dict:
    response = Browser().get(app, path, cookie=cookie)
    assert response.status == 200, (app, response.body)
    return response.body


@pytest.mark.parametrize("login_side", SIDES)
def test_a_login_made_on_either_app_ends_on_both_at_its_absolute_cap(
    spec, apps, users_database, login_side
):
    pair = passport_apps(spec, apps, users_database)(absoluteMaxAge=CAP_MS, rolling=True)
    name = new_user(pair, users_database).username
    here = side(pair, login_side)
    there = pair.other(here)
    # Sent as is: the jar would drop the cookie at its Expires (the cap, to the second).
    cookie = logged_in(Browser(), here, name)
    cap = own_dict(pair, cookie)["startedAt"] + CAP_MS
    seen = []

    def ask(app) -> None:
        sent = now_ms()
        seen.append((app.name, sent, browser_get(app, "/me", cookie)["user"] == name))
        time.sleep(0.2)

    # Busy on both apps, then on the other app alone from just before the cap until it
    # has been asked after it: that app must end the session by itself (the login's own
    # app, which would, is not asked).
    while now_ms() < cap - 500:
        for app in (there, here):
            ask(app)
    while now_ms() < cap + 800 or not any(
        app == there.name and sent > cap for app, sent, _ in seen
    ):
        ask(there)
    alive = [sent for app, sent, live in seen if app == there.name and live]
    ended = [sent for app, sent, live in seen if app == there.name and not live]
    assert alive and ended, (cap, seen)
    assert max(alive) < cap <= min(ended) + 1000, (cap, seen)  # (stores count whole seconds)
    assert max(alive) < min(ended), (cap, seen)  # ended for good
    assert browser_get(here, "/me", cookie)["user"] is None  # and so it is on both


@pytest.mark.parametrize("login_side", SIDES)
@pytest.mark.parametrize("counted_from", ["start", "login"])
def test_the_clock_survives_or_restarts_at_a_login_on_either_app_as_on_django(
    spec, apps, users_database, login_side, counted_from
):
    pair = passport_apps(spec, apps, users_database)(
        absoluteMaxAge=60_000, absoluteMaxAgeFrom=counted_from
    )
    name = new_user(pair, users_database).username
    browser = Browser()
    # An anonymous session on the other app, then the login (passport regenerates it).
    assert browser.get(pair.other(side(pair, login_side)), "/set", color="blue").status == 200
    started = own_dict(pair, f"connect.sid={browser.value()}")["startedAt"]
    time.sleep(0.3)
    before_login = now_ms()
    cookie = logged_in(browser, side(pair, login_side), name)

    after = own_dict(pair, cookie)["startedAt"]
    if counted_from == "start":
        assert after == started
    else:
        assert after >= before_login
    for app in pair:
        assert browser_get(app, "/me", cookie)["user"] == name


@pytest.fixture
def store(listing_spec, settings):
    """This process on the apps' store, with their identity bridge."""
    settings.CACHES = {**settings.CACHES, **(listing_spec.caches or {})}
    settings.EXPRESS_SESSION = express_session(store=listing_spec.django, passport=PASSPORT)
    return conf.get_store()


def test_the_client_details_express_records_are_what_sessions_of_shows(
    listing_spec, apps, users_database, store
):
    track = {"track": ["ip", "userAgent"]}
    pair = passport_apps(listing_spec, apps, users_database)(node=track, django=track)
    user = new_user(pair, users_database)
    browser = Browser()
    before = now_ms()
    logged_in(browser, pair.node, user.username)

    sid = browser.sid()
    described = users.describe(sid, store.get(sid), None)  # what Express recorded
    assert described.written_by == "express"
    assert described.ip == "127.0.0.1"
    assert described.user_agent.startswith("Python-urllib/")
    created = described.created_at
    assert created.timestamp() * 1000 >= before - 1000
    assert described.last_seen_at == created

    time.sleep(0.05)
    browser.get(pair.django, "/set", color="blue")  # Django's write (and Redis's index)
    (listed,) = users.sessions_of(user)
    assert (listed.written_by, listed.created_at) == ("django", created)
    time.sleep(0.05)
    browser.get(pair.node, "/set", color="red")
    (listed,) = users.sessions_of(user)
    assert (listed.written_by, listed.created_at, listed.ip) == ("express", created, "127.0.0.1")
    assert listed.last_seen_at > created
