"""The Express app's store wrapped with ``share()`` (the npm package in ``node/``) beside
the Django app, on every shared store: a logout on Django sticks even while an Express
write of that session is in flight, concurrent changes of different keys from both apps
are all kept, and an Express (passport) login is listed by ``users.sessions_of`` at once.

An Express write is held in flight deterministically: ``/hold/<name>/set?k=v`` reads the
session, then waits for ``/release/<name>`` before it sets its keys and saves
(``interop/node/holds.js``), so the test acts on Django in between. Each store runs
``TRIES`` tries of each check; Redis runs them on Node 22 too (Express 5, connect-redis
11, node-redis 6). For contrast, the stock stores (no ``share()``) under the same holds
bring the logged-out session back and lose the updates.
"""

from __future__ import annotations

import itertools
import os
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import pytest

from django_express_session.record import sid_hint

from .conftest import SHARED_STORES, App, AppPair, Browser, Response
from .test_passport_login import log_in, new_user, passport_pair

pytestmark = pytest.mark.interop

TRIES = 20
# Each shared store with share(), and Redis again on the Node 22 package set.
SHARED = [*SHARED_STORES, *(["redis-node22"] if "redis" in SHARED_STORES else [])]
# memcached cannot list a user's sessions (users.CannotListSessions): there is nothing
# for logout_everywhere to end or sessions_of to list.
LISTS = [name for name in SHARED if name != "memcached"]
_holds = itertools.count()


class Hold:
    """Express requests sent with ``cookie``, each held once it has read the session;
    ``release()`` lets them set their keys and save, and gives their responses."""

    def __init__(self, app: App, cookie: str, *paths: str) -> None:
        self.app = app
        self.name = f"h{os.getpid()}x{next(_holds)}"
        self.pool = ThreadPoolExecutor(len(paths))
        self.sent = [
            self.pool.submit(Browser().get, app, f"/hold/{self.name}{path}", cookie=cookie)
            for path in paths
        ]
        holding = Browser().get(app, f"/holding/{self.name}", count=len(paths))
        if holding.status != 200:
            self.release()
            raise AssertionError(f"the held requests did not all arrive: {holding.body}")

    def release(self) -> list[Response]:
        released = Browser().get(self.app, f"/release/{self.name}")
        assert released.status == 200, released.body
        responses = [sent.result() for sent in self.sent]
        self.pool.shutdown()
        return responses

    def __enter__(self) -> Hold:
        return self

    def __exit__(self, *exc_info) -> None:
        if not all(sent.done() for sent in self.sent):
            self.release()


def setting(**keys: str) -> str:
    return "/set?" + urllib.parse.urlencode(keys)


def cookie_of(browser: Browser) -> str:
    return f"connect.sid={browser.value()}"


def change_ten_keys(pair: AppPair, run: int) -> dict[str, list[str]]:
    """One session, then 10 changes of different keys at once, 5 from each app: the 5
    Express requests all read the session before any change is written, and are let go
    to save as Django's 5 are sent. Returns the keys each app does not see afterwards."""
    browser = Browser()
    starting = pair.node if run % 2 else pair.django
    assert browser.get(starting, "/set", started="yes").status == 200
    cookie = cookie_of(browser)
    express = {f"express{i}": str(i) for i in range(5)}
    django = {f"django{i}": str(i) for i in range(5)}
    with (
        Hold(
            pair.node, cookie, *(setting(**{key: value}) for key, value in express.items())
        ) as hold,
        ThreadPoolExecutor(len(django) + 1) as pool,
    ):
        released = pool.submit(hold.release)
        written = [
            pool.submit(Browser().get, pair.django, setting(**{key: value}), cookie=cookie)
            for key, value in django.items()
        ]
        responses = [*released.result(), *(sent.result() for sent in written)]
    assert [response.status for response in responses] == [200] * 10, responses
    missing = {}
    for app in pair:
        data = Browser().get(app, "/session", cookie=cookie).body["data"]
        missing[app.name] = [
            key for key, value in {**express, **django}.items() if data.get(key) != value
        ]
    return missing


# -- with share() ---------------------------------------------------------------------


@pytest.fixture(params=SHARED)
def shared(request) -> str:
    """A store name, ``-node22`` when the Express app runs on Node 22's package set."""
    return request.param


@pytest.fixture
def pair(request, shared, apps, users_database) -> AppPair:
    """Both apps with passport and Django's user database; Express's store is shared."""
    name, _, packages = shared.partition("-")
    store = request.getfixturevalue(f"interop_store_{name}")
    node = {"share": {}, **({"packages": packages} if packages else {})}
    return passport_pair(apps, store, users_database, **node)


@pytest.fixture
def user(pair) -> str:
    return new_user(pair)


@pytest.mark.parametrize(
    ("shared", "ending"),
    [(name, "logout") for name in SHARED] + [(name, "logout_everywhere") for name in LISTS],
    indirect=["shared"],
)
def test_a_logout_on_django_while_an_express_write_is_in_flight_stays_a_logout(pair, user, ending):
    for _ in range(TRIES):
        browser = Browser()
        log_in(browser, pair.node, user)
        sid, cookie = browser.sid(), cookie_of(browser)
        with Hold(pair.node, cookie, setting(note="written after the logout")) as hold:
            if ending == "logout":
                assert browser.get(pair.django, "/auth/logout").body["user"] is None
            else:
                ended = Browser().get(pair.django, "/auth/logout-everywhere", username=user)
                assert ended.body == {"ended": 1}
            (held,) = hold.release()
        assert held.status == 200, held.body  # Express answered as ever, and then:
        for app in pair:
            # The old cookie is no session on either app: no user, and no record re-created.
            after = Browser().get(app, "/session", cookie=cookie).body
            assert after["id"] != sid and after["data"] == {}, (app, after)


def test_ten_concurrent_changes_of_different_keys_from_both_apps_are_all_kept(pair):
    for run in range(TRIES):
        missing = change_ten_keys(pair, run)
        assert missing == {"node": [], "django": []}, f"run {run}"


@pytest.mark.parametrize("shared", LISTS, indirect=True)
def test_an_express_login_is_listed_by_sessions_of_with_no_reindex(pair, user):
    browsers = [Browser(), Browser()]
    for browser in browsers:
        log_in(browser, pair.node, user)  # passport's req.login, through share()
    listed = Browser().get(pair.django, "/auth/sessions", username=user).body["hints"]
    assert sorted(listed) == sorted(sid_hint(browser.sid()) for browser in browsers)


# -- the stock stores, for contrast ---------------------------------------------------


def test_without_share_an_express_write_in_flight_brings_a_logged_out_session_back(
    shared_store, apps
):
    pair = apps(shared_store)
    browser = Browser()
    browser.get(pair.node, "/login", user="ann")  # what passport's req.login stores
    cookie = cookie_of(browser)
    with Hold(pair.node, cookie, setting(note="written after the logout")) as hold:
        assert browser.get(pair.django, "/logout").body == {"id": None, "data": None}
        assert Browser().get(pair.node, "/whoami", cookie=cookie).body["user"] is None
        hold.release()
    for app in pair:
        assert Browser().get(app, "/whoami", cookie=cookie).body["user"] == "ann", app


def test_without_share_express_writes_in_flight_lose_concurrent_changes(shared_store, apps):
    missing = change_ten_keys(apps(shared_store), 0)
    # Each of the 5 Express writes puts back the whole session it read, with its one key.
    for app, keys in missing.items():
        assert len(keys) >= 4, (app, keys)
