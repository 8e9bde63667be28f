"""``django_express_session.users``: a user's sessions listed and ended, on every store
that can list them."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User

from django_express_session import users
from tests.test_identity import browser, user_of

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def urls(settings, express):
    settings.ROOT_URLCONF = "tests.identity_support"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def alice(db):
    return User.objects.create_user("alice", password="pw")


@pytest.fixture
def bob(db):
    return User.objects.create_user("bob", password="pw")


def logged_in(name: str):
    client = browser()
    assert client.get("/login", {"username": name, "password": "pw"}).status_code == 200
    return client


def test_sessions_of_lists_each_login_of_the_user_and_no_one_else(alice, bob):
    laptop, phone, other = logged_in("alice"), logged_in("alice"), logged_in("bob")
    ids = {laptop.get("/me").json()["id"], phone.get("/me").json()["id"]}
    listed = users.sessions_of(alice)
    assert {s.hint[:6] for s in listed} == {sid[:6] for sid in ids}
    assert all(len(s.hint) < 10 for s in listed)  # a hint, never the id
    assert user_of(other) == "bob"


def test_logout_everywhere_ends_every_session_but_the_kept_one(alice, bob):
    laptop, phone, tablet, other = (logged_in(n) for n in ("alice", "alice", "alice", "bob"))
    kept = laptop.get("/me").json()["id"]
    assert users.logout_everywhere(alice, keep=kept) == 2
    assert user_of(laptop) == "alice"
    assert user_of(phone) is None and user_of(tablet) is None
    assert user_of(other) == "bob"
    assert [s.hint[:6] for s in users.sessions_of(alice)] == [kept[:6]]


def test_the_async_twins_agree(alice):
    logged_in("alice"), logged_in("alice")
    assert len(async_to_sync(users.asessions_of)(alice)) == 2
    assert async_to_sync(users.alogout_everywhere)(alice) == 2
    assert users.sessions_of(alice) == []


def test_end_session_ends_the_one_session_its_ref_names_and_no_other_users(alice, bob):
    laptop, phone, other = logged_in("alice"), logged_in("alice"), logged_in("bob")
    phone_sid = phone.get("/me").json()["id"]
    phone_ref = next(s.ref for s in users.sessions_of(alice) if s.hint[:6] == phone_sid[:6])
    assert users.end_session(bob, phone_ref) is False  # a ref of someone else's session
    assert user_of(phone) == "alice"
    assert users.end_session(alice, phone_ref) is True
    assert user_of(phone) is None and user_of(laptop) == "alice" and user_of(other) == "bob"
    assert users.end_session(alice, phone_ref) is False


def test_aend_session_is_the_async_twin(alice):
    phone = logged_in("alice")
    [session] = users.sessions_of(alice)
    assert async_to_sync(users.aend_session)(alice, session.ref) is True
    assert user_of(phone) is None
