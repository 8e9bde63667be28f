"""Recent authentication: ``login()`` and ``mark_authenticated()`` record the proof in
the record's own dict (``authAt``), ``auth_age`` reads it on every store, and
``decorators.recent_auth`` guards sync and async views."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.template.loader import render_to_string
from django.test import AsyncClient

from django_express_session import conf, users
from django_express_session.core.state import OWN_KEY
from django_express_session.decorators import recent_auth
from tests.test_identity import browser

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def listable():
    """Recent authentication lists no sessions: it runs on every store."""


def logged_in(client=None):
    client = client or browser()
    assert client.get("/plogin", {"username": "alice"}).status_code == 200
    return client


def state(client):
    return client.get("/state").json()


def test_login_records_the_proof_where_the_express_app_reads_it(alice, session_clock):
    client = logged_in()
    sid = state(client)["id"]
    assert state(client)["auth_age"] == 0
    stored = conf.get_store().read(sid).record
    assert 0 <= session_clock.now_ms() - stored[OWN_KEY]["authAt"] < 5_000
    session_clock.advance(90_000)
    assert state(client)["auth_age"] == 90


def test_never_proved_is_none(alice):
    client = browser()
    client.get("/set", {"a": "b"})
    assert state(client)["auth_age"] is None


def test_mark_authenticated_restarts_the_age(alice, session_clock):
    client = logged_in()
    session_clock.advance(600_000)
    assert state(client)["auth_age"] == 600
    assert client.get("/confirm").json()["auth_age"] == 0
    assert state(client)["auth_age"] == 0


def test_the_sync_view_sends_a_stale_session_to_log_in_again(alice, session_clock, settings):
    settings.LOGIN_URL = "/accounts/login/"
    client = logged_in()
    assert client.get("/sensitive").json() == {"ok": True}
    session_clock.advance(61_000)
    response = client.get("/sensitive", {"x": "1"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/sensitive%3Fx%3D1"
    client.get("/confirm")
    assert client.get("/sensitive").status_code == 200


def test_the_sync_view_sends_an_anonymous_visitor_to_log_in(alice):
    assert browser().get("/sensitive").status_code == 302


def test_the_async_view_too(alice, session_clock):
    client = AsyncClient()
    get = async_to_sync(client.get)
    assert get("/palogin", {"username": "alice"}).status_code == 200
    assert get("/asensitive").status_code == 200
    session_clock.advance(61_000)
    response = get("/asensitive")
    assert response.status_code == 302
    assert response["Location"] == "/reauth?next=/asensitive"


def test_a_proof_from_another_servers_clock_ahead_is_age_zero(alice, session_clock):
    client = logged_in()
    session_clock.advance(-5_000)
    assert state(client)["auth_age"] == 0


def test_the_session_list_shows_it(alice):
    store = conf.get_store()
    if store.name == "cache" and store.kind == "memcached":
        pytest.skip("memcached cannot list a user's sessions")
    client = logged_in()
    (session,) = users.sessions_of(alice)
    assert session.auth_at is not None
    html = render_to_string("django_express_session/auth_age.html", {"session": session})
    assert "Signed in or password confirmed" in html and "datetime=" in html
    assert state(client)["user"] == "alice"


@pytest.mark.parametrize("max_age", [-1, "60", True])
def test_a_bad_max_age_is_a_clear_error(max_age):
    with pytest.raises(TypeError, match="recent_auth"):
        recent_auth(max_age=max_age)


def test_max_age_may_be_a_timedelta(alice, session_clock):
    recent_auth(max_age=timedelta(minutes=5))  # accepted
