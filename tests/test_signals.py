"""``django_express_session.signals``: each is sent at its moment, with its arguments."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.contrib.auth.models import User
from django.test import AsyncClient

from django_express_session import signals
from django_express_session.exceptions import StoreUnavailable, UpdateConflict
from django_express_session.middleware import SessionMiddleware
from django_express_session.session import SessionStore
from tests.helpers import stored_session
from tests.servers.redis import redis_url, start_redis
from tests.test_identity import browser, express_login, user_of

pytestmark = pytest.mark.django_db


@contextmanager
def caught(signal) -> Iterator[list[dict]]:
    sent: list[dict] = []

    def receiver(**kwargs):
        sent.append(kwargs)

    signal.connect(receiver)
    try:
        yield sent
    finally:
        signal.disconnect(receiver)


@pytest.fixture(autouse=True)
def urls(settings, express):
    settings.ROOT_URLCONF = "tests.identity_support"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def alice(db):
    return User.objects.create_user("alice", password="old password")


def reasons(sent: list[dict]) -> list[tuple[str, str]]:
    return [(event["session_key"], event["reason"]) for event in sent]


def test_session_created_when_a_new_session_is_stored(express):
    store = express()
    client = browser()
    with caught(signals.session_created) as sent:
        client.get("/me")  # nothing to store (saveUninitialized: False)
        sid = client.get("/set", {"color": "blue"}).json()["id"]
        client.get("/set", {"color": "red"})  # an update, not a creation
    assert [(e["sender"], e["session_key"]) for e in sent] == [(SessionStore, sid)]
    assert isinstance(sent[0]["session"], SessionStore)
    assert store.get(sid)["color"] == "red"


def test_session_ended_on_destroy_and_regenerate(express):
    store = express()
    client = browser()
    first = client.get("/set", {"color": "blue"}).json()["id"]
    with caught(signals.session_ended) as ended, caught(signals.session_created) as created:
        second = client.get("/regenerate").json()["id"]
        client.get("/set", {"color": "red"})
        client.get("/destroy")
    assert reasons(ended) == [(first, "regenerate"), (second, "destroy")]
    assert [e["session_key"] for e in created] == [second]
    assert store.get(first) is None and store.get(second) is None


def test_session_ended_on_logout_and_on_a_password_change(express, alice):
    express(passport={"field": "username"})
    client = browser()
    before_login = client.get("/set", {"cart": "1"}).json()["id"]
    with caught(signals.session_ended) as ended:
        logged_in = client.get("/login", {"username": "alice", "password": "old password"})
        elsewhere = browser()
        other = elsewhere.get("/login", {"username": "alice", "password": "old password"})
        changed = elsewhere.get("/password", {"password": "new password"}).json()["id"]
        assert user_of(client) is None  # its hash is the old password's
        elsewhere.get("/logout")
    sid, other_sid = logged_in.json()["id"], other.json()["id"]
    assert reasons(ended) == [
        (before_login, "regenerate"),  # login() cycles the key
        (other_sid, "regenerate"),  # update_session_auth_hash() too
        (sid, "password_change"),
        (changed, "logout"),
    ]


def test_identity_bridged_in_both_directions(express, alice):
    store = express(passport={"field": "username"})
    express_login(store, "from-express-1", "alice")
    with caught(signals.identity_bridged) as sent:
        assert user_of(browser("from-express-1")) == "alice"
        user_of(browser("from-express-1"))  # already bridged: not sent again
        browser().get("/login", {"username": "alice", "password": "old password"})
    assert [(e["direction"], e["user"]) for e in sent] == [
        ("express_to_django", alice),
        ("django_to_express", alice),
    ]
    assert sent[0]["session"].session_key == "from-express-1"
    assert sent[0]["request"].path == "/me" and sent[1]["request"].path == "/login"


def test_update_conflict_when_every_compare_and_set_loses(express, settings):
    express(store={"backend": "tests.identity_support.HammeredStore", "options": {}})
    client = browser()
    client.get("/set", {"color": "blue"})
    with caught(signals.update_conflict) as conflicts, caught(signals.store_unavailable) as down:
        response = client.get("/set", {"color": "red"})
    assert response.status_code == 503
    assert [e["sender"] for e in conflicts] == [SessionMiddleware]
    assert isinstance(conflicts[0]["error"], UpdateConflict)
    assert conflicts[0]["request"].path == "/set"
    assert down == []


@pytest.mark.parametrize("when_down", ["error", "continue"])
def test_store_unavailable_when_the_server_is_down(express, settings, tmp_path, when_down):
    server = start_redis(tmp_path / "redis")
    settings.CACHES = {
        **settings.CACHES,
        "signals": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": redis_url(server)},
    }
    store = express(
        store={"backend": "redis", "options": {"alias": "signals"}}, storeUnavailable=when_down
    )
    store.create("before-outage", stored_session({"color": "blue"}))
    server.stop()
    client = browser("before-outage")
    with caught(signals.store_unavailable) as sent:
        response = client.get("/me")
    assert response.status_code == (503 if when_down == "error" else 200)
    assert len(sent) == 1
    assert sent[0]["sender"] is SessionMiddleware
    assert isinstance(sent[0]["error"], StoreUnavailable)
    assert sent[0]["request"].path == "/me"


@pytest.mark.django_db(transaction=True)
def test_session_ended_on_a_password_change_seen_by_an_async_view(express, alice):
    express(passport={"field": "username"})
    client = browser()
    sid = client.get("/login", {"username": "alice", "password": "old password"}).json()["id"]
    alice.set_password("new password")
    alice.save()

    async def visit():
        async_client = AsyncClient()
        async_client.cookies = client.cookies
        return (await async_client.get("/ame")).json()

    with caught(signals.session_ended) as ended:
        assert asyncio.run(visit())["user"] is None
    assert reasons(ended) == [(sid, "password_change")]
