"""One browser, an Express app and a Django app on one store: the session is one.

Each test runs for every shared store (session-file-store, connect-redis,
connect-pg-simple, connect-mongo and connect-memcached, each against its Django twin)
and, where it has a direction, once starting on each side.
"""

from __future__ import annotations

import json
import time

import pytest

from .conftest import sign, signed_with

pytestmark = pytest.mark.interop

SIDES = ["node", "django"]


def side(pair, name):
    return pair.node if name == "node" else pair.django


@pytest.mark.parametrize("first", SIDES)
def test_a_session_started_on_one_side_is_modified_on_the_other_and_read_back(
    shared_store, apps, browser, first
):
    pair = apps(shared_store)
    here = side(pair, first)
    there = pair.other(here)

    started = browser.get(here, "/set", color="blue")
    assert started.status == 200
    assert started.cookie() is not None
    sid = started.body["id"]

    seen = browser.get(there, "/session")
    assert seen.body["id"] == sid
    assert seen.body["data"]["color"] == "blue"

    changed = browser.get(there, "/set", size="L")
    assert changed.body["id"] == sid

    back = browser.get(here, "/session")
    assert back.body["id"] == sid
    assert back.body["data"]["color"] == "blue"
    assert back.body["data"]["size"] == "L"
    assert browser.sid() == sid


# Short enough to wait out, long enough for the stores that count in whole seconds:
# connect-memcached truncates 3.1 s to a 3 s item, which memcached's coarse clock may end
# after 2 s; a touch every half second keeps well inside that.
IDLE_MS = 3100
STEP = 0.5


def test_touch_on_either_side_keeps_the_session_alive_for_the_other(shared_store, apps, browser):
    pair = apps(shared_store, rolling=True, cookie={"maxAge": IDLE_MS})
    started = browser.get(pair.node, "/set", color="blue")
    sid = started.body["id"]
    # Sent as is on every request: the jar would drop the cookie at its own Expires,
    # rounded down to the second, and this test is about the stores' expiry.
    cookie = f"connect.sid={started.cookie().value}"

    def idle_on(app, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(STEP)
            assert browser.get(app, "/touch", cookie=cookie).body["id"] == sid

    # Only Django sees the browser for longer than the idle timeout: Node still has it.
    idle_on(pair.django, IDLE_MS / 1000 + 0.5)
    assert browser.get(pair.node, "/session", cookie=cookie).body["data"]["color"] == "blue"
    # And the other way round.
    idle_on(pair.node, IDLE_MS / 1000 + 0.5)
    assert browser.get(pair.django, "/session", cookie=cookie).body["data"]["color"] == "blue"

    # Idle on both sides for longer than maxAge (plus the stores' rounding up to whole
    # seconds): the session is gone on both.
    time.sleep(IDLE_MS / 1000 + 2)
    for app in pair:
        after = browser.get(app, "/session", cookie=cookie)
        assert after.body["id"] != sid, app
        assert "color" not in after.body["data"], app


@pytest.mark.parametrize("route", ["/destroy", "/logout"])
@pytest.mark.parametrize("ender", SIDES)
def test_logout_on_one_side_ends_the_session_on_the_other(
    shared_store, apps, browser, ender, route
):
    pair = apps(shared_store)
    ending = side(pair, ender)
    other = pair.other(ending)
    started = browser.get(other, "/login", user="ann")
    sid = started.body["id"]
    stale = f"connect.sid={browser.value()}"
    assert browser.get(ending, "/whoami").body["user"] is not None

    ended = browser.get(ending, route)
    assert ended.status == 200
    line = ended.cookie()
    if ending.name == "django":
        # A deliberate difference (docs/differences.md): destroy() and logout() clear the cookie.
        assert line is not None and line.clears
        assert browser.value() is None
    else:
        # express-session 1.19: destroy() leaves the browser's cookie as it was.
        assert line is None
        assert browser.value() is not None

    # Whatever the browser still holds, neither side knows the session any more.
    for app in pair:
        for response in (browser.get(app, "/whoami"), browser.get(app, "/whoami", cookie=stale)):
            assert response.body["user"] is None, app
        assert browser.get(app, "/session", cookie=stale).body["id"] != sid


@pytest.mark.parametrize("route", ["/login", "/regenerate"])
@pytest.mark.parametrize("rotator", SIDES)
def test_a_new_id_on_one_side_leaves_no_usable_old_id_on_either(
    shared_store, apps, browser, rotator, route
):
    pair = apps(shared_store)
    rotating = side(pair, rotator)
    other = pair.other(rotating)
    visit = browser.get(other, "/set", cart="3 apples")
    old_sid = visit.body["id"]
    old_cookie = f"connect.sid={browser.value()}"

    rotated = browser.get(rotating, route, user="ann")
    new_sid = rotated.body["id"]
    assert new_sid != old_sid
    assert rotated.cookie() is not None and rotated.cookie().sid == new_sid
    assert browser.sid() == new_sid

    for app in pair:
        # The old id is nothing on either side, even sent on purpose.
        replay = browser.get(app, "/session", cookie=old_cookie)
        assert replay.body["id"] != old_sid, app
        assert replay.body["data"] == {}, app
        # The browser's new cookie is the session on both sides.
        assert browser.get(app, "/session").body["id"] == new_sid, app

    data = browser.get(other, "/session").body["data"]
    if route == "/login" and rotator == "django":
        # django.contrib.auth.login() rotates the id with cycle_key(): data is kept.
        assert data["cart"] == "3 apples"
        assert data["_auth_user_id"]
        assert browser.get(other, "/whoami").body["user"] == data["_auth_user_id"]
    else:
        # express's regenerate() (what passport's login does) starts empty.
        assert "cart" not in data
    if route == "/login":
        for app in pair:
            assert browser.get(app, "/whoami").body["user"] is not None


ROTATED = {"secret": ["new secret", "old secret"], "cookie": {"maxAge": 60_000}}


@pytest.mark.parametrize("first", SIDES)
def test_after_secret_rotation_both_sides_accept_the_old_signature_and_resign_with_the_new(
    shared_store, apps, browser, first
):
    pair = apps(shared_store, **ROTATED)
    here = side(pair, first)
    there = pair.other(here)
    sid = browser.get(here, "/set", color="blue").body["id"]
    assert signed_with(browser.value(), "new secret")

    for app in (here, there):
        # A browser still holding the cookie signed before the rotation.
        browser.put(sign(sid, "old secret"))
        unchanged = browser.get(app, "/session")
        assert unchanged.body["id"] == sid, app
        assert unchanged.body["data"]["color"] == "blue", app
        # As express: no Set-Cookie only to re-sign it ...
        assert unchanged.cookie() is None, app
        # ... but any cookie sent is signed with the first secret.
        changed = browser.get(app, "/set", signed_by=app.name)
        assert changed.cookie() is not None, app
        assert changed.cookie().sid == sid, app
        assert signed_with(changed.cookie().value, "new secret"), app
        assert signed_with(browser.value(), "new secret"), app

    # A signature by a secret neither side has is no session.
    for app in pair:
        browser.put(sign(sid, "a secret nobody has"))
        assert browser.get(app, "/session").body["id"] != sid, app


NESTED = {
    "passport": {"user": "ann"},
    "prefs": {"lang": "fr", "name": "Zoë ✓", "ratio": 1.5, "list": [1, None, True, "x"]},
}


def test_keys_written_by_node_survive_a_django_round_trip(shared_store, apps, browser):
    pair = apps(shared_store)
    browser.get(pair.node, "/set", json=json.dumps(NESTED))
    on_django = browser.get(pair.django, "/set", seen="django").body["data"]
    assert on_django["passport"] == NESTED["passport"]
    assert on_django["prefs"] == NESTED["prefs"]
    assert browser.get(pair.django, "/whoami").body["user"] == "ann"

    back = browser.get(pair.node, "/session").body["data"]
    assert back["passport"] == NESTED["passport"]
    assert back["prefs"] == NESTED["prefs"]
    assert back["seen"] == "django"
    assert browser.get(pair.node, "/whoami").body["user"] == "ann"


def test_keys_written_by_django_survive_a_node_round_trip(shared_store, apps, browser):
    pair = apps(shared_store)
    logged_in = browser.get(pair.django, "/login", user="bob").body["data"]
    auth_keys = {k: v for k, v in logged_in.items() if k.startswith("_auth_user")}
    assert set(auth_keys) >= {"_auth_user_id", "_auth_user_backend", "_auth_user_hash"}

    on_node = browser.get(pair.node, "/set", seen="node").body["data"]
    assert {k: on_node[k] for k in auth_keys} == auth_keys

    back = browser.get(pair.django, "/session").body["data"]
    assert {k: back[k] for k in auth_keys} == auth_keys
    assert back["seen"] == "node"
    # Still logged in on Django: the auth hash Node carried back verifies.
    assert browser.get(pair.django, "/whoami").body["user"] == "bob"
