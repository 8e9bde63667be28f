"""``users.logout_everywhere`` against sessions the real Express app (passport 0.7 over
connect-redis 9 or connect-mongo 6, both ``stringify`` settings) wrote: a user logged
in on Express and on Django is logged out of both, and another user stays logged in.

The test process calls ``logout_everywhere`` on the same store as the two apps, with the
same identity bridge (``{"field": "username"}``), as a Django management command or an
admin action would.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import replace

import psycopg
import pytest
from django.contrib.auth.models import User

from django_express_session import conf, users
from django_express_session.record import sid_hint
from testproject.settings import SECRET_KEY
from tests.conftest import STORE_VARIANTS
from tests.helpers import express_session

from .conftest import Browser, StoreSpec
from .test_passport_login import log_in, user_on

pytestmark = pytest.mark.interop

PASSPORT = {"field": "username"}
_names = itertools.count()


@pytest.fixture(scope="session")
def interop_store_mongodb_object(mongo_uri) -> StoreSpec:
    """connect-mongo with ``stringify: false`` (sessions as sub-documents) on both sides."""
    options = {"mongoUrl": mongo_uri, "dbName": "interop_sessions_object", "stringify": False}
    return StoreSpec(
        name="mongodb_object",
        django={"backend": "mongodb", "options": options},
        node={"kind": "mongo", "options": options},
    )


# connect-redis, and connect-mongo with each stringify setting.
STORES = [name for name in ("redis", "mongodb", "mongodb_object") if name in STORE_VARIANTS]


@pytest.fixture(params=STORES)
def spec(request, users_database) -> StoreSpec:
    store = request.getfixturevalue(f"interop_store_{request.param}")
    return replace(
        store, databases={**(store.databases or {}), "default": users_database["django"]}
    )


@pytest.fixture
def pair(spec, apps, users_database):
    return apps(
        spec,
        django={"passport": PASSPORT},
        node={"passport": {"users": users_database["url"], "djangoSecretKey": SECRET_KEY}},
    )


@pytest.fixture
def store(spec, settings):
    """This process on the apps' store, with their identity bridge."""
    settings.CACHES = {**settings.CACHES, **(spec.caches or {})}
    settings.EXPRESS_SESSION = express_session(store=spec.django, passport=PASSPORT)
    return conf.get_store()


def new_user(pair, users_database) -> User:
    """A user created through the Django app, as this process sees it (its primary key
    is the users database's, where the apps keep it)."""
    name = f"everywhere{os.getpid()}x{next(_names)}"
    created = Browser().get(pair.django, "/auth/user", username=name, password="pw")
    assert created.status == 200, created.body
    with psycopg.connect(users_database["url"]) as connection:
        (pk,) = connection.execute(
            "SELECT id FROM auth_user WHERE username = %s", [name]
        ).fetchone()
    return User(pk=pk, username=name)


def test_logout_everywhere_ends_the_express_and_django_sessions_of_the_user_only(
    pair, store, users_database
):
    alice, bob = new_user(pair, users_database), new_user(pair, users_database)
    on_express, on_django, bob_on_express = Browser(), Browser(), Browser()
    log_in(on_express, pair.node, alice.username, "pw")
    log_in(on_django, pair.django, alice.username, "pw")
    log_in(bob_on_express, pair.node, bob.username, "pw")

    assert users.logout_everywhere(alice) == 2

    for app in pair:
        assert user_on(on_express, app) is None, app
        assert user_on(on_django, app) is None, app
        assert user_on(bob_on_express, app) == bob.username, app
    assert users.sessions_of(alice) == []
    assert len(users.sessions_of(bob)) == 1


@pytest.mark.parametrize("spec", ["redis"], indirect=True)
def test_a_redis_session_express_wrote_is_listed_after_reindex(pair, store, users_database):
    alice = new_user(pair, users_database)
    on_express = Browser()
    log_in(on_express, pair.node, alice.username, "pw")
    sid = on_express.sid()

    # connect-redis keeps no index: a plain listing misses the session until reindex.
    assert users.sessions_of(alice) == []
    assert store.reindex() >= 1
    assert [session.hint for session in users.sessions_of(alice)] == [sid_hint(sid)]
