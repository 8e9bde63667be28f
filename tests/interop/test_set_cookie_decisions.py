"""The same options give the same ``Set-Cookie`` decisions and attributes on both apps.

One request sequence (new visitor, unmodified, modified, rolling, expired, ...) runs
against the Express app and against the Django app, each with its own browser, step by
step; each step's outcome (cookie sent or not, new id or not, attributes, expiry) must be
the same on both, except where docs/differences.md lists a deliberate difference: there each
side's documented behaviour is asserted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import pytest

from .conftest import Browser, Response

pytestmark = pytest.mark.interop

SHORT_MS = 2500  # the "expired" step waits this out, plus the stores' rounding up

PROFILES = {
    # What most projects configure: no empty sessions, no rolling, an idle timeout.
    "typical": {
        "resave": False,
        "saveUninitialized": False,
        "rolling": False,
        "cookie": {"maxAge": SHORT_MS, "sameSite": "lax", "priority": "high"},
    },
    # express's defaults turned on, and a browser-session cookie (no maxAge).
    "rolling, resave, saveUninitialized, browser-session cookie": {
        "resave": True,
        "saveUninitialized": True,
        "rolling": True,
        "cookie": {"httpOnly": False, "path": "/"},
    },
}


@dataclass
class Outcome:
    status: int
    sent: bool
    new_id: bool
    clears: bool
    attributes: dict[str, Any]
    expires_in: float | None

    @classmethod
    def of(cls, response: Response, previous_id: str | None) -> Outcome:
        line = response.cookie()
        attributes = dict(line.attributes) if line else {}
        expires = attributes.pop("expires", None)
        return cls(
            status=response.status,
            sent=line is not None,
            new_id=(response.body or {}).get("id") != previous_id,
            clears=bool(line and line.clears),
            attributes=attributes,
            expires_in=(
                parsedate_to_datetime(expires).timestamp() - time.time()
                if isinstance(expires, str)
                else None
            ),
        )

    def decision(self) -> tuple:
        """What must be equal on both sides (the expiry is compared with a tolerance)."""
        return (self.status, self.sent, self.new_id, self.clears, self.attributes)


class Visitor:
    """One app and its own browser, remembering the session id it last saw."""

    def __init__(self, app) -> None:
        self.app = app
        self.browser = Browser()
        self.id: str | None = None
        self.saved_cookie: str | None = None

    def get(self, path: str, *, stale: bool = False, **query: Any) -> tuple[Outcome, Response]:
        cookie = self.saved_cookie if stale else None
        response = self.browser.get(self.app, path, cookie=cookie, **query)
        outcome = Outcome.of(response, self.id)
        if isinstance(response.body, dict) and response.body.get("id"):
            self.id = response.body["id"]
        return outcome, response

    def keep_cookie(self) -> None:
        self.saved_cookie = f"connect.sid={self.browser.value()}"


def same(node: Outcome, django: Outcome, step: str, *, expiry: bool = True) -> None:
    assert node.decision() == django.decision(), step
    if expiry and (node.expires_in is not None or django.expires_in is not None):
        assert node.expires_in is not None and django.expires_in is not None, step
        assert abs(node.expires_in - django.expires_in) <= 2, step


@pytest.mark.parametrize("profile", PROFILES)
def test_same_options_same_set_cookie_decisions(shared_store, apps, profile):
    options = PROFILES[profile]
    pair = apps(shared_store, **options)
    node, django = Visitor(pair.node), Visitor(pair.django)
    uninitialized = options["saveUninitialized"]
    rolling = options["rolling"]
    has_expiry = "maxAge" in options["cookie"]

    def step(name: str, path: str, **query: Any) -> tuple[Outcome, Outcome]:
        (n, _), (d, _) = node.get(path, **query), django.get(path, **query)
        return n, d

    n, d = step("new visitor", "/session")
    same(n, d, "new visitor")
    assert n.sent is uninitialized

    n, d = step("new visitor modifies", "/set", a="1")
    same(n, d, "new visitor modifies")
    assert n.sent and n.status == 200
    assert n.attributes.get("httponly", False) is options["cookie"].get("httpOnly", True)

    n, d = step("unmodified", "/session")
    same(n, d, "unmodified")
    assert n.sent is rolling and not n.new_id

    n, d = step("same value again", "/set", a="1")
    same(n, d, "same value again")
    assert n.sent is rolling

    n, d = step("modified", "/set", a="2")
    same(n, d, "modified")
    # express: an existing session's cookie is re-sent on a change only if it expires.
    assert n.sent is (rolling or has_expiry)

    n, d = step("explicit save", "/save", b="1")
    same(n, d, "explicit save")

    if has_expiry:
        node.keep_cookie()
        django.keep_cookie()
        time.sleep(SHORT_MS / 1000 + 2)
        (n, _), (d, _) = node.get("/session", stale=True), django.get("/session", stale=True)
        same(n, d, "expired, not modified")
        assert n.new_id and n.sent is uninitialized
        (n, _), (d, _) = node.get("/set", stale=True, a="1"), django.get("/set", stale=True, a="1")
        same(n, d, "expired, modified")
        assert n.new_id and n.sent
        for visitor in (node, django):
            visitor.browser.jar.clear()
        n, d = step("new visitor again", "/set", a="1")
        same(n, d, "new visitor again")

    # Deliberate difference: a change of maxAge re-sends the cookie on Django, so the
    # browser's and the store's expiry agree; express re-sends it only when rolling.
    n, d = step("maxAge changed", "/max-age", ms="60000")
    assert n.sent is rolling
    assert d.sent
    assert 55 < d.expires_in <= 60

    # Deliberate difference: nothing is saved on a 5xx response on Django, as Django;
    # express saves what the failing handler changed.
    (n, _), (d, _) = node.get("/fail", c="1"), django.get("/fail", c="1")
    assert n.status == d.status == 500
    assert not d.sent
    (_, node_after), (_, django_after) = node.get("/session"), django.get("/session")
    assert node_after.body["data"]["c"] == "1"
    assert "c" not in django_after.body["data"]

    n, d = step("regenerate", "/regenerate")
    same(n, d, "regenerate", expiry=False)
    assert n.sent and n.new_id

    # Deliberate difference: destroy() clears the browser's cookie on Django (express v2);
    # express 1.19 sends nothing.
    n, d = step("destroy", "/destroy")
    assert not n.sent
    assert d.sent and d.clears
