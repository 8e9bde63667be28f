"""The session policies between a real Express app (passport 0.7, the npm package's
``share()`` and ``guard()``) and Django, on one store: a login on either app counts
against ``maxSessionsPerUser``, and the proof of identity one app records is the
other's ``auth_age``."""

from __future__ import annotations

from dataclasses import replace

import pytest

from testproject.settings import SECRET_KEY

from .conftest import Browser
from .test_passport_login import log_in, new_user, passport_pair, user_on

pytestmark = pytest.mark.interop

#: The stores that list a user's sessions on both apps' sides under share().
STORES = ["redis", "postgres"]


def limited_pair(request, apps, users_database, policy: str):
    """Both apps with the identity bridge and a limit of one session per user; the
    Express app's store wrapped by ``share()``, which files its logins for listing."""
    store = request.getfixturevalue(f"interop_store_{request.param}")
    store = replace(
        store, databases={**(store.databases or {}), "default": users_database["django"]}
    )
    return apps(
        store,
        maxSessionsPerUser=1,
        onSessionLimit=policy,
        django={"passport": {"field": "username"}},
        node={
            "passport": {"users": users_database["url"], "djangoSecretKey": SECRET_KEY},
            "share": {},
        },
    )


@pytest.fixture(params=STORES)
def refusing(request, apps, users_database):
    return limited_pair(request, apps, users_database, "refuse")


@pytest.fixture(params=STORES)
def ending(request, apps, users_database):
    return limited_pair(request, apps, users_database, "endOldest")


def test_an_express_login_is_refused_past_a_django_login(refusing):
    user = new_user(refusing)
    on_django, on_express = Browser(), Browser()
    log_in(on_django, refusing.django, user)
    refused = on_express.get(refusing.node, "/auth/login", username=user, password="old password")
    assert refused.status == 403, refused.body
    assert "signed in on one device already" in refused.body["error"]
    assert user_on(on_express, refusing.node) is None
    assert user_on(on_express, refusing.django) is None
    assert user_on(on_django, refusing.node) == user


def test_a_django_login_is_refused_past_an_express_login(refusing):
    user = new_user(refusing)
    on_express, on_django = Browser(), Browser()
    log_in(on_express, refusing.node, user)
    refused = on_django.get(refusing.django, "/auth/login", username=user, password="old password")
    assert refused.status == 403
    assert user_on(on_django, refusing.django) is None
    assert user_on(on_express, refusing.django) == user


def test_an_express_login_ends_the_older_django_session(ending):
    user = new_user(ending)
    on_django, on_express = Browser(), Browser()
    log_in(on_django, ending.django, user)
    log_in(on_express, ending.node, user)
    for app in ending:
        assert user_on(on_express, app) == user, app
        assert user_on(on_django, app) is None, app


@pytest.fixture(params=["redis", "postgres", "file"])
def pair(request, apps, users_database):
    store = request.getfixturevalue(f"interop_store_{request.param}")
    return passport_pair(apps, store, users_database)


@pytest.mark.parametrize("login_side", ["node", "django"])
def test_the_proof_of_identity_is_read_on_both_apps(pair, login_side):
    user = new_user(pair)
    browser = Browser()
    log_in(browser, pair.node if login_side == "node" else pair.django, user)
    for app in pair:
        answer = browser.get(app, "/auth/age").body
        assert answer["user"] == user, app
        assert answer["age"] is not None and 0 <= answer["age"] < 60, (app, answer)
    assert Browser().get(pair.node, "/auth/age").body == {"user": None, "age": None}
