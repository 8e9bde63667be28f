"""The absolute cap on both apps: Django's ``absoluteMaxAge`` and, on the Express side,
the npm package's ``guard()`` (``interop/node/app.js`` gives it the same options). A
session kept busy on both apps ends on both at the same moment, on every shared store."""

from __future__ import annotations

import itertools
import time

import pytest

from .test_shared_sessions import SIDES, side

pytestmark = pytest.mark.interop

CAP_MS = 3000
# Stores that count in whole seconds (memcached's clock ticks once a second) may drop
# the record up to a second before the cap; neither app keeps the session after it.
WHOLE_SECOND = 1000


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.mark.parametrize("first", SIDES)
def test_a_session_busy_on_both_apps_ends_on_both_at_its_absolute_cap(
    shared_store, apps, browser, first
):
    pair = apps(shared_store, rolling=True, absoluteMaxAge=CAP_MS, cookie={"maxAge": 60_000})
    here = side(pair, first)
    started = browser.get(here, "/set", color="blue")
    sid = started.body["id"]
    # Sent as is: the jar would drop the cookie at its Expires (the cap, to the second).
    cookie = f"connect.sid={started.cookie().value}"
    # Django starts the clock when it creates the session; guard() when it first stores
    # one.
    assert browser.get(pair.other(here), "/touch", cookie=cookie).body["id"] == sid
    record = browser.get(pair.node, "/session", cookie=cookie).body["data"]
    cap = record["djangoExpressSession"]["startedAt"] + CAP_MS

    seen = []
    # Busy on both apps, then on Express alone from just before the cap: Express must
    # end the session by itself (Django, which would destroy it, is not asked).
    apps_in_turn = itertools.cycle([pair.node, pair.django])
    while now_ms() < cap + 1000:
        time.sleep(0.2)
        app = next(apps_in_turn) if now_ms() < cap - 500 else pair.node
        sent = now_ms()
        body = browser.get(app, "/session", cookie=cookie).body
        seen.append((app.name, sent, body["id"] == sid and body["data"].get("color") == "blue"))

    for name in ("node", "django"):
        alive = [sent for app, sent, live in seen if app == name and live]
        ended = [sent for app, sent, live in seen if app == name and not live]
        assert alive, (name, seen)
        assert all(sent < cap for sent in alive), (name, seen)
        if ended:
            assert max(alive) < min(ended), (name, seen)  # ended for good
            assert all(sent >= cap - WHOLE_SECOND for sent in ended), (name, seen)
    assert any(app == "node" and not live for app, _, live in seen)
    # And Django agrees: the session is over.
    after = browser.get(pair.django, "/session", cookie=cookie).body
    assert after["id"] != sid and not after["data"]
