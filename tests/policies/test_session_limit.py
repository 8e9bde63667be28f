"""``maxSessionsPerUser`` and ``onSessionLimit`` on every store that lists sessions:
at Django's ``login()`` and ``alogin()``, at the bridge's first sight of an Express
login, and two logins at the same moment on the stores that lock (Redis, PostgreSQL,
memory)."""

from __future__ import annotations

import threading
import time

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.test import AsyncClient

from django_express_session import conf, users
from django_express_session.core.limit import Trimmed, choose
from django_express_session.owner import Owner
from tests.helpers import stored_session
from tests.test_identity import browser, express_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def limited(express):
    def configure(limit=2, policy="endOldest", **more):
        return express(maxSessionsPerUser=limit, onSessionLimit=policy, **more)

    return configure


def login(name="alice", path="/plogin", client_class=None):
    client = browser() if client_class is None else browser(client_class=client_class)
    response = client.get(path, {"username": name, "password": "pw"})
    return client, response


def sid_of(client) -> str | None:
    return client.get("/state").json()["id"]


def user_of(client) -> str | None:
    return client.get("/state").json()["user"]


def live_sids(user) -> set[str]:
    return {s.ref for s in users.sessions_of(user)}


def ref(sid: str) -> str:
    return users.ref_of(sid)


# -- the rule ------------------------------------------------------------------------------


def test_the_rule_ends_the_least_recently_used_others_and_never_the_new_login():
    used = {"old": 1, "new": 0, "mid": 5, "recent": 9}
    assert choose(used, "new", 2, "endOldest") == Trimmed(ended=("old", "mid"))
    assert choose(used, "new", 2, "refuse") == Trimmed(refused=True)
    assert choose(used, "new", 4, "refuse") == Trimmed()
    # A tie goes by id, so every process chooses alike.
    assert choose({"b": 1, "a": 1, "n": 2}, "n", 2, "endOldest").ended == ("a",)


# -- at login() ----------------------------------------------------------------------------


def test_end_oldest_ends_the_least_recently_used_session_at_the_next_login(limited, alice, ended):
    limited(limit=2, cookie={"maxAge": 3_600_000})
    first, _ = login()
    time.sleep(1.1)  # Redis keeps expiries in whole seconds: last use has that resolution
    second, _ = login()
    time.sleep(1.1)
    first.get("/set", {"seen": "again"})  # the first is now more recently used
    time.sleep(1.1)
    third, response = login()
    assert response.status_code == 200 and response.json()["user"] == "alice"
    assert user_of(second) is None  # the least recently used one ended
    assert user_of(first) == "alice" and user_of(third) == "alice"
    assert live_sids(alice) == {ref(sid_of(first)), ref(sid_of(third))}
    assert [reason for _, reason in ended if reason == "limit"] == ["limit"]


def test_refuse_fails_the_new_login_with_a_message_the_view_shows(limited, alice, ended):
    limited(limit=1, policy="refuse")
    first, _ = login()
    second, response = login()
    assert response.status_code == 403
    assert "signed in on one device already" in response.json()["error"]
    assert user_of(second) is None and sid_of(second) != sid_of(first)
    assert user_of(first) == "alice"
    assert len(users.sessions_of(alice)) == 1
    assert [reason for _, reason in ended].count("limit") == 1


def test_refuse_unhandled_is_a_403(limited, alice):
    limited(limit=1, policy="refuse")
    login()
    client = browser()
    client.raise_request_exception = False
    response = client.get("/login", {"username": "alice", "password": "pw"})
    assert response.status_code == 403


def test_logging_in_again_in_the_same_browser_does_not_count_twice(limited, alice):
    limited(limit=1, policy="refuse")
    client, _ = login()
    assert client.get("/plogin", {"username": "alice"}).status_code == 200
    assert client.get("/state").json()["user"] == "alice"
    assert len(users.sessions_of(alice)) == 1


def test_alogin_counts_too(limited, alice):
    limited(limit=1, policy="refuse")
    login()
    client = AsyncClient()
    response = async_get(client, "/palogin", {"username": "alice"})
    assert response.status_code == 403
    assert len(users.sessions_of(alice)) == 1


def async_get(client, path, data):
    from asgiref.sync import async_to_sync

    return async_to_sync(client.get)(path, data)


def per_user(user):
    return 1 if user.username == "alice" else None


def test_a_function_gives_each_user_a_limit_or_none(limited, alice):
    limited(limit="tests.policies.test_session_limit.per_user", policy="refuse")
    User.objects.create_user("bob", password="pw")
    login()
    assert login()[1].status_code == 403
    assert all(login("bob")[1].status_code == 200 for _ in range(3))


def test_a_function_that_gives_a_bad_value_is_a_clear_error(limited, alice):
    limited(limit=lambda user: 0)
    with pytest.raises(ImproperlyConfigured, match=r"maxSessionsPerUser'\] gave 0"):
        login()


# -- an Express login, seen by the bridge --------------------------------------------------


def test_an_express_login_counts_against_the_limit_when_django_first_sees_it(limited, alice, ended):
    store = limited(limit=1, passport={"field": "username"})
    django_login, _ = login()
    time.sleep(1.1)
    express_login(store, "express-login-sid-0001", "alice")
    from_express = browser("express-login-sid-0001")
    assert user_of(from_express) == "alice"
    assert user_of(django_login) is None  # the older one ended
    assert ("express-login-sid-0001", "limit") not in ended
    assert live_sids(alice) == {ref("express-login-sid-0001")}


def test_a_refused_express_login_ends_on_both_apps(limited, alice):
    store = limited(limit=1, policy="refuse", passport={"field": "username"})
    django_login, _ = login()
    express_login(store, "express-login-sid-0002", "alice")
    assert user_of(browser("express-login-sid-0002")) is None
    assert store.read("express-login-sid-0002") is None
    assert user_of(django_login) == "alice"


# -- two logins at the same moment ---------------------------------------------------------


LOCKING = ("memory", "redis", "database_postgres")


def log_in(store, owner, sid, gate, outcomes, policy) -> None:
    """One login: its session stored, then (with the other at the same moment) trimmed."""
    store.create(sid, stored_session({"_auth_user_id": owner.django_id}))
    gate.wait()
    outcomes[sid] = store.trim_sessions(owner, sid, 1, policy)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("policy", ["endOldest", "refuse"])
def test_two_simultaneous_logins_never_both_stay_past_the_limit(
    request, express, policy, monkeypatch
):
    """Each of two threads stores its login and trims at once, many times over: on a
    store that locks, exactly ``limit`` sessions stand after every round, and with
    ``refuse`` exactly one of the two logins is refused."""
    variant = request.node.callspec.params["store_settings"]
    if variant not in LOCKING:
        pytest.skip("this store keeps no lock between two logins (documented)")
    store = conf.get_store()
    listing = store.sessions_of

    def slow_listing(*args, **kwargs):
        found = listing(*args, **kwargs)
        time.sleep(0.02)  # widens the window between listing and ending: the lock must hold
        return found

    monkeypatch.setattr(store, "sessions_of", slow_listing)
    owner = Owner(django_id="7")
    for round_ in range(10):
        sids = [f"round{round_:02d}-login-{n}" for n in range(2)]
        gate = threading.Barrier(2)
        outcomes: dict[str, Trimmed] = {}

        threads = [
            threading.Thread(target=log_in, args=(store, owner, sid, gate, outcomes, policy))
            for sid in sids
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        standing = list(listing(owner))
        assert len(standing) == 1, (round_, outcomes, standing)
        if policy == "refuse":
            assert sum(outcome.refused for outcome in outcomes.values()) == 1
        for sid in standing:
            store.destroy(sid)


# -- the options ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"maxSessionsPerUser": 0}, "maxSessionsPerUser'] must be a whole number from 1"),
        ({"maxSessionsPerUser": True}, "maxSessionsPerUser'] must be a whole number from 1"),
        ({"maxSessionsPerUser": "no.such.function"}, "maxSessionsPerUser'] cannot be imported"),
        ({"onSessionLimit": "endNewest"}, "onSessionLimit'] must be one of"),
    ],
)
def test_bad_options_are_named(express, options, message):
    with pytest.raises(ImproperlyConfigured, match=message.replace("[", r"\[").replace("]", r"\]")):
        express(**options)


def test_memcached_with_a_limit_fails_the_checks(limited):
    from django.core import checks

    limited(limit=2)
    found = [m.id for m in checks.run_checks() if m.id == "django_express_session.E040"]
    assert found == ["django_express_session.E040"]
