"""The header transport on both apps: with ``header: "X-Session-Id"`` (Django's option,
the npm package's ``sessionHeader()`` on the real Express app), a client that keeps no
cookies logs in on one app and is the same session on the other by the header alone;
without the option, both apps ignore the header."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from .conftest import SHARED_STORES, sign

pytestmark = pytest.mark.interop

HEADER = "X-Session-Id"
STORES = [name for name in ("redis", "file") if name in SHARED_STORES]


def call(app, path: str, value: str | None = None) -> tuple[dict, str | None, bool]:
    """GET ``path`` as a client without cookies: the body, the header it got back (None:
    none), and whether a session cookie was set too."""
    request = urllib.request.Request(app.url + path)
    if value is not None:
        request.add_header(HEADER, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            headers, raw = answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        raise AssertionError(f"{app}: {error.code} {error.read()!r}") from None
    set_cookie = any(
        line.startswith("connect.sid=") for line in headers.get_all("Set-Cookie") or []
    )
    return json.loads(raw), headers.get(HEADER), set_cookie


@pytest.fixture(params=STORES)
def store(request):
    return request.getfixturevalue(f"interop_store_{request.param}")


@pytest.mark.parametrize("login_on", ["node", "django"])
def test_a_client_without_cookies_shares_its_session_by_the_header(apps, store, login_on):
    pair = apps(store, header=HEADER)
    first, second = (pair.node, pair.django) if login_on == "node" else (pair.django, pair.node)
    body, value, _ = call(first, "/login?user=carol")
    assert value and value.startswith("s:")
    assert value[2:].rpartition(".")[0] == body["id"]
    shared = call(second, "/session", value)[0]
    assert shared["id"] == body["id"]
    assert {"passport", "_auth_user_id"} & set(shared["data"])  # the login of the first
    # The id stands: nothing to say back on either app.
    assert call(second, "/set?color=blue", value)[1] is None
    assert call(first, "/session", value)[0]["data"]["color"] == "blue"
    # A new id on the other app goes out in the header, and works on the first.
    regenerated, new_value, _ = call(second, "/regenerate", value)
    assert new_value and new_value != value and regenerated["id"] in new_value
    assert call(first, "/session", new_value)[0]["id"] == regenerated["id"]
    # The old id names no session now: both apps say so with an empty header.
    assert call(first, "/session", value)[1] == ""
    assert call(second, "/session", value)[1] == ""


def test_without_the_option_both_apps_ignore_the_header(apps, store):
    pair = apps(store)
    body, value, set_cookie = call(pair.node, "/login?user=dave")
    assert value is None and set_cookie
    for app in pair:
        answer, header, _ = call(app, "/whoami", "s:" + sign(body["id"], "keyboard cat")[4:])
        assert answer == {"user": None} and header is None
