"""``endSessionsOn``: every session of a user ends when the user is set inactive or
deleted (reasons ``"deactivated"``, ``"deleted"``), those the Express app wrote
included; a password change ends the others as Django does, or, left out of the list,
none."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test.utils import CaptureQueriesContext

from django_express_session import conf, users
from tests.test_identity import browser, express_login

pytestmark = pytest.mark.django_db


def reasons(ended) -> list[str]:
    return [reason for _, reason in ended]


def logged_in():
    client = browser()
    assert client.get("/plogin", {"username": "alice"}).status_code == 200
    return client


def user_of(client):
    return client.get("/state").json()["user"]


def test_deactivating_a_user_ends_every_session_on_both_apps(express, alice, ended):
    store = express(passport={"field": "username"})
    one, other = logged_in(), logged_in()
    express_login(store, "express-only-sid-0001", "alice")
    alice.is_active = False
    alice.save()
    assert reasons(ended).count("deactivated") == 3
    assert users.sessions_of(alice) == []
    assert store.read("express-only-sid-0001") is None
    assert user_of(one) is None and user_of(other) is None


def test_deleting_a_user_ends_every_session(alice, ended):
    logged_in()
    logged_in()
    owner = users.owner_of(alice)
    alice.delete()
    assert reasons(ended).count("deleted") == 2
    assert conf.get_store().sessions_of(owner) == {}


def test_a_save_that_keeps_the_user_active_ends_nothing(alice, ended):
    client = logged_in()
    alice.first_name = "Alice"
    alice.save()
    assert user_of(client) == "alice" and "deactivated" not in reasons(ended)


def test_a_save_of_other_fields_costs_no_query(alice):
    with CaptureQueriesContext(connection) as queries:
        alice.save(update_fields=["last_login"])
    assert len(queries) == 1  # the UPDATE alone


def test_without_the_items_nothing_ends(express, alice, ended):
    express(endSessionsOn=["password"])
    client = logged_in()
    alice.is_active = False
    alice.save()
    assert "deactivated" not in reasons(ended)
    assert len(users.sessions_of(alice)) == 1
    User.objects.filter(pk=alice.pk).update(is_active=True)
    alice.refresh_from_db()
    alice.delete()
    assert "deleted" not in reasons(ended)
    assert client is not None


def test_a_password_change_ends_the_other_sessions_by_default(alice):
    other, changing = logged_in(), logged_in()
    assert changing.get("/password", {"password": "new"}).json()["user"] == "alice"
    assert user_of(other) is None and user_of(changing) == "alice"


def test_left_out_a_password_change_ends_no_session(express, alice):
    express(endSessionsOn=["deactivate", "delete"])
    other, changing = logged_in(), logged_in()
    assert changing.get("/password", {"password": "new"}).json()["user"] == "alice"
    assert user_of(other) == "alice" and user_of(changing) == "alice"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("password", "must be a list of"),
        (["password", "suspend"], "lists 'suspend', which is not one of"),
    ],
)
def test_bad_values_are_named(express, value, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        express(endSessionsOn=value)


def test_memcached_logs_a_warning(caplog, alice):
    alice.is_active = False
    alice.save()
    assert "were not ended (deactivated)" in caplog.text
