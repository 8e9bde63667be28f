"""The ``passport`` option: one login across Django and an Express app with passport.

Sessions "logged in on Express" are written into the store as passport writes them
(``{"passport": {"user": ...}}``); Django is driven through its test client, so every
request goes through the middleware, ``AuthenticationMiddleware`` and a view.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.test import AsyncClient, Client

from django_express_session import conf, signing
from tests.helpers import SECRET, stored_session

pytestmark = pytest.mark.django_db

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


@pytest.fixture(autouse=True)
def fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def bridge(express, settings):
    """``bridge(**passport)``: the store, with ``EXPRESS_SESSION["passport"]`` set."""
    settings.ROOT_URLCONF = "tests.identity_support"

    def configure(**passport):
        return express(passport=passport or {"field": "username"})

    return configure


@pytest.fixture
def alice(db):
    return User.objects.create_user("alice", password="old password")


@pytest.fixture
def bob(db):
    return User.objects.create_user("bob", password="bob's")


def browser(sid: str | None = None, client_class=Client):
    client = client_class()
    if sid is not None:
        client.cookies["connect.sid"] = signing.cookie_value(sid, SECRET)
    return client


def express_login(store, sid: str, user, **more) -> None:
    """What passport's ``req.login`` leaves in the store: a new session naming the user."""
    store.create(sid, stored_session({"passport": {"user": user}, **more}))


def user_of(client, path="/me") -> str | None:
    response = client.get(path)
    assert response.status_code == 200
    return response.json()["user"]


# -- the option -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("passport", "message"),
    [
        ({"field": "nickname"}, "['passport']['field'] names no field of the user model auth.User"),
        ({"field": ""}, "['passport']['field'] must be a user field name"),
        ({}, 'needs exactly one of "field" and "serializer"'),
        ({"field": "pk", "serializer": "x.y"}, 'needs exactly one of "field" and "serializer"'),
        ({"field": "pk", "rotate": True}, "['passport'] has unknown keys ['rotate']"),
        (
            {"serializer": "tests.identity_support.Nope"},
            "['passport']['serializer'] cannot be imported",
        ),
        ({"serializer": "tests.identity_support.Incomplete"}, "has no from_passport()"),
        ({"field": "pk", "backend": "my.Backend"}, "is not in AUTHENTICATION_BACKENDS"),
        ("username", "['passport'] must be a dict"),
        # Two users may share an email: one would log in as the other.
        ({"field": "email"}, "names auth.User.email, which is not unique"),
    ],
)
def test_a_bad_passport_option_is_named(passport, message):
    with pytest.raises(ImproperlyConfigured) as error:
        conf.parse({"secret": "s", "passport": passport})
    assert "EXPRESS_SESSION" in str(error.value)
    assert message in str(error.value)


def test_good_passport_options_parse():
    assert conf.parse({"secret": "s"}).passport is None
    for passport in (
        {"field": "pk"},
        {"field": "id"},
        {"field": "username", "backend": MODEL_BACKEND},
    ):
        assert conf.parse({"secret": "s", "passport": passport}).passport is not None
    custom = conf.parse(
        {"secret": "s", "passport": {"serializer": "tests.identity_support.IdAndName"}}
    )
    assert custom.passport.serializer.__name__ == "IdAndName"


# -- Express to Django ------------------------------------------------------------------


def test_a_login_on_express_is_a_django_login_without_a_new_id(bridge, alice):
    store = bridge()
    express_login(store, "express-login-1", "alice", views=3)
    client = browser("express-login-1")

    assert user_of(client) == "alice"
    record = store.get("express-login-1")
    assert record["_auth_user_id"] == str(alice.pk)
    assert record["_auth_user_backend"] == MODEL_BACKEND
    assert record["_auth_user_hash"] == alice.get_session_auth_hash()
    assert record["passport"] == {"user": "alice"} and record["views"] == 3
    # Same id: passport regenerated it at the login; the next request needs no query.
    assert user_of(client) == "alice"
    assert client.cookies["connect.sid"].value == signing.cookie_value("express-login-1", SECRET)


@pytest.mark.django_db(transaction=True)
def test_the_async_path_bridges_too(bridge, alice):
    store = bridge()
    express_login(store, "express-async-1", "alice")

    async def visit():
        return (await browser("express-async-1", AsyncClient).get("/ame")).json()

    assert asyncio.run(visit())["user"] == "alice"
    assert store.get("express-async-1")["_auth_user_id"] == str(alice.pk)


def test_passport_by_pk_and_by_a_custom_serializer(bridge, alice):
    store = bridge(field="pk")
    express_login(store, "by-pk-0001", alice.pk)
    assert user_of(browser("by-pk-0001")) == "alice"

    store = bridge(serializer="tests.identity_support.IdAndName")
    express_login(store, "by-dict-01", {"id": alice.pk, "name": "alice"})
    assert user_of(browser("by-dict-01")) == "alice"
    express_login(store, "by-dict-02", {"id": alice.pk, "name": "mallory"})
    assert user_of(browser("by-dict-02")) is None


@pytest.mark.parametrize("spelling", [" {pk}", "0{pk}", "{pk}.9"])
def test_a_passport_id_the_listings_would_not_match_logs_nobody_in(bridge, alice, spelling):
    # The ORM coerces each of these to alice's pk; logout_everywhere, which finds
    # sessions by the exact value, would leave such a session logged in.
    store = bridge(field="pk")
    text = spelling.format(pk=alice.pk)
    value = float(text) if text.endswith(".9") else text
    express_login(store, "coerced-01", value)
    assert user_of(browser("coerced-01")) is None
    assert "_auth_user_id" not in store.get("coerced-01")


def test_an_integer_id_as_text_names_the_user_everywhere(bridge, alice):
    # node-postgres returns a bigint column as a string: "7" names user 7 on the
    # bridge, in the listings and in logout_everywhere alike.
    from django_express_session import users

    store = bridge(field="pk")
    if store.name == "cache" and store.kind == "memcached":
        pytest.skip("memcached cannot list a user's sessions")
    express_login(store, "pk-as-text", str(alice.pk))
    express_login(store, "pk-as-number", alice.pk)
    assert user_of(browser("pk-as-text")) == "alice"
    assert len(users.sessions_of(alice)) == 2
    assert users.logout_everywhere(alice) == 2
    assert store.get("pk-as-text") is None and store.get("pk-as-number") is None


@pytest.mark.parametrize("who", ["nobody", "inactive"])
def test_a_passport_user_naming_no_active_user_is_anonymous_and_logged_once(bridge, caplog, who):
    store = bridge()
    User.objects.create_user("inactive", is_active=False)
    express_login(store, "unknown-01", who)
    client = browser("unknown-01")

    with caplog.at_level(logging.WARNING, logger="django_express_session"):
        assert [user_of(client) for _ in range(3)] == [None, None, None]
    warnings = [r for r in caplog.records if "names no active user" in r.getMessage()]
    assert len(warnings) == 1
    assert "_auth_user_id" not in store.get("unknown-01")


def test_a_logout_on_express_is_a_logout_on_django(bridge, alice):
    """passport's ``req.logout()`` deletes ``passport.user``; with ``keepSessionInfo``
    the Django keys stay in the record, and ``passport.user`` still decides."""
    store = bridge()
    express_login(store, "logged-out-1", "alice")
    client = browser("logged-out-1")
    assert user_of(client) == "alice"
    record = store.get("logged-out-1")
    del record["passport"]["user"]
    store.set("logged-out-1", record)

    assert user_of(client) is None
    assert not {"_auth_user_id", "_auth_user_hash", "_auth_user_passport"} & set(
        store.get("logged-out-1")
    )


def test_another_user_on_express_replaces_the_django_login(bridge, alice, bob):
    store = bridge()
    express_login(store, "switched-01", "alice")
    client = browser("switched-01")
    assert user_of(client) == "alice"
    record = store.get("switched-01")
    record["passport"]["user"] = "bob"
    store.set("switched-01", record)

    assert user_of(client) == "bob"
    assert store.get("switched-01")["_auth_user_hash"] == bob.get_session_auth_hash()


# -- Django to Express ------------------------------------------------------------------


def test_a_django_login_writes_passport_user_and_logout_removes_it(bridge, alice):
    store = bridge()
    client = browser()
    login = client.get("/login", {"username": "alice", "password": "old password"})
    sid = login.json()["id"]
    assert store.get(sid)["passport"] == {"user": "alice"}
    assert user_of(client) == "alice"

    logout = client.get("/logout")
    assert store.get(sid) is None
    assert store.get(logout.json()["id"]) is None  # the new session carries nothing
    assert user_of(client) is None


def test_a_django_login_keeps_other_passport_data(bridge, alice):
    store = bridge()
    store.create("with-passport", stored_session({"passport": {"user": None, "extra": 1}}))
    client = browser("with-passport")
    sid = client.get("/login", {"username": "alice", "password": "old password"}).json()["id"]
    assert store.get(sid)["passport"] == {"user": "alice", "extra": 1}


# -- password changes -------------------------------------------------------------------


def change_password(bridge_store, user) -> Client:
    """Another browser logs in on Django as ``user`` and changes the password."""
    changer = browser()
    changer.get("/login", {"username": user.username, "password": "old password"})
    assert changer.get("/password", {"password": "new password"}).json()["user"] == user.username
    return changer


def test_a_password_change_logs_out_the_sessions_made_on_express(bridge, alice):
    store = bridge()
    express_login(store, "express-pwd1", "alice")
    express_user = browser("express-pwd1")
    assert user_of(express_user) == "alice"  # bridged: the hash of the old password

    changer = change_password(store, alice)

    assert user_of(express_user) is None
    assert store.get("express-pwd1") is None  # flushed: gone for Express too
    # The changing session is still logged in, on both sides.
    assert user_of(changer) == "alice"
    assert store.get(changer.get("/me").json()["id"])["passport"] == {"user": "alice"}


def test_a_hash_stamped_by_express_at_login_is_kept(bridge, alice):
    """An Express app that stamps ``_auth_user_hash`` when it checks the password: a
    password change before Django first sees the session still logs it out."""
    store = bridge()
    express_login(store, "stamped-01", "alice", _auth_user_hash=alice.get_session_auth_hash())
    change_password(store, alice)

    assert user_of(browser("stamped-01")) is None
    assert store.get("stamped-01") is None
