"""WebSockets on a real ASGI server: the Django app under uvicorn (``testproject.asgi``
routes WebSockets through ``django_express_session.channels.AuthMiddlewareStack``)
beside the real Express app with passport, on one store and one user database.

A socket opened with the browser's cookie is the user of a Django login or of an
Express+passport login; a bad signature is anonymous; ``logout_everywhere`` and a
logout on Express close the open socket within ``socketRecheck`` with code 4401.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from django_express_session.channels import SESSION_ENDED
from testproject.settings import SECRET_KEY

from .conftest import SHARED_STORES, Browser, sign
from .test_passport_login import log_in, new_user

pytestmark = pytest.mark.interop

RECHECK = 0.5  # seconds
STORES = [name for name in ("redis", "postgres") if name in SHARED_STORES]


@pytest.fixture(params=STORES)
def pair(request, apps, users_database):
    store = request.getfixturevalue(f"interop_store_{request.param}")
    store = replace(
        store, databases={**(store.databases or {}), "default": users_database["django"]}
    )
    return apps(
        store,
        django={"passport": {"field": "username"}, "socketRecheck": RECHECK},
        node={"passport": {"users": users_database["url"], "djangoSecretKey": SECRET_KEY}},
    )


def socket_to(app, cookie: str | None):
    url = app.url.replace("http://", "ws://") + "/ws/whoami"
    headers = {"Cookie": cookie} if cookie is not None else {}
    return connect(url, additional_headers=headers, open_timeout=10)


def user_on_socket(app, cookie: str | None) -> str | None:
    with socket_to(app, cookie) as socket:
        return json.loads(socket.recv(timeout=10))["user"]


def cookie_of(browser: Browser) -> str:
    return f"connect.sid={browser.value()}"


@pytest.mark.parametrize("login_on", ["django", "node"])
def test_a_login_on_either_app_opens_an_authenticated_socket(pair, login_on):
    name = new_user(pair)
    browser = Browser()
    log_in(browser, pair.django if login_on == "django" else pair.node, name)
    assert user_on_socket(pair.django, cookie_of(browser)) == name


def test_a_bad_signature_is_an_anonymous_socket(pair):
    name = new_user(pair)
    browser = Browser()
    log_in(browser, pair.node, name)
    sid = browser.sid()
    assert user_on_socket(pair.django, f"connect.sid={sign(sid, 'not the secret')}") is None
    assert user_on_socket(pair.django, None) is None
    assert user_on_socket(pair.django, cookie_of(browser)) == name


def closed_after(socket, end) -> float:
    """Run ``end()`` while ``socket`` is open; the seconds until the server closed it
    with ``SESSION_ENDED``."""
    socket.recv(timeout=10)  # who the user is
    end()
    started = time.monotonic()
    with pytest.raises(ConnectionClosed) as closed:
        socket.recv(timeout=RECHECK * 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == SESSION_ENDED
    return time.monotonic() - started


@pytest.mark.parametrize("login_on", ["django", "node"])
def test_logout_everywhere_closes_the_open_socket_within_the_interval(pair, login_on):
    name = new_user(pair)
    browser = Browser()
    log_in(browser, pair.django if login_on == "django" else pair.node, name)
    admin = Browser()

    def everywhere():
        answer = admin.get(pair.django, "/auth/logout-everywhere", username=name)
        assert answer.status == 200 and answer.body["ended"] >= 1

    with socket_to(pair.django, cookie_of(browser)) as socket:
        # The check interval, plus the time a loaded machine takes to answer.
        assert closed_after(socket, everywhere) <= RECHECK * 4


@pytest.mark.parametrize("keep", ["0", "1"])
def test_a_logout_on_express_closes_the_socket(pair, keep):
    """passport's ``req.logout()``: the session regenerated, or (``keepSessionInfo``)
    kept without ``passport.user``."""
    name = new_user(pair)
    browser = Browser()
    log_in(browser, pair.node, name)

    def express_logout():
        assert browser.get(pair.node, "/auth/logout", keep=keep).status == 200

    with socket_to(pair.django, cookie_of(browser)) as socket:
        closed_after(socket, express_logout)
