"""One login across a real Express app with passport 0.7 + passport-local 1.0 and Django
with ``EXPRESS_SESSION["passport"] = {"field": "username"}``, on one store.

Both apps use one user database, Django's (PostgreSQL): Express's passport-local checks
the password against ``auth_user`` with the npm package's ``verifyDjangoPassword``, and
its ``guard()`` stamps each Express login with Django's ``_auth_user_hash`` and logs out
a session whose user's password changed since (``interop/node/passport.js``). Each test runs on the Redis,
PostgreSQL and file stores, with one browser (cookie jar) for both apps.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import replace
from typing import Any

import pytest

from testproject.settings import SECRET_KEY

from .conftest import SHARED_STORES, AppPair, Browser, StoreSpec

pytestmark = pytest.mark.interop

STORES = [name for name in ("redis", "postgres", "file") if name in SHARED_STORES]
SIDES = ["node", "django"]
_names = itertools.count()


def passport_pair(apps, store: StoreSpec, users_database, **node: Any) -> AppPair:
    """Both apps on ``store``, with Django's user database and the identity bridge;
    ``node``: more options of the Express app."""
    store = replace(
        store, databases={**(store.databases or {}), "default": users_database["django"]}
    )
    return apps(
        store,
        django={"passport": {"field": "username"}},
        node={
            "passport": {"users": users_database["url"], "djangoSecretKey": SECRET_KEY},
            **node,
        },
    )


@pytest.fixture(params=STORES)
def pair(request, apps, users_database):
    return passport_pair(
        apps, request.getfixturevalue(f"interop_store_{request.param}"), users_database
    )


def new_user(pair) -> str:
    """A new Django user (its name; the password is "old password"), created through
    the Django app."""
    name = f"user{os.getpid()}x{next(_names)}"
    created = Browser().get(pair.django, "/auth/user", username=name, password="old password")
    assert created.status == 200, created.body
    return name


@pytest.fixture
def user(pair):
    return new_user(pair)


def side(pair, name):
    return pair.node if name == "node" else pair.django


def user_on(browser: Browser, app) -> str | None:
    response = browser.get(app, "/me")
    assert response.status == 200, (app, response.body)
    return response.body["user"]


def log_in(browser: Browser, app, name: str, password: str = "old password") -> None:
    response = browser.get(app, "/auth/login", username=name, password=password)
    assert response.status == 200, (app, response.body)
    assert response.body["user"] == name


@pytest.mark.parametrize("first", SIDES)
def test_log_in_on_one_side_and_be_logged_in_on_the_other(pair, browser, user, first):
    here = side(pair, first)
    there = pair.other(here)
    log_in(browser, here, user)

    assert user_on(browser, there) == user  # request.user on Django, req.user on Express
    assert user_on(browser, here) == user
    assert user_on(browser, there) == user


@pytest.mark.parametrize(("login_side", "logout_side"), list(itertools.product(SIDES, SIDES)))
def test_log_out_on_either_side_and_be_anonymous_on_both(
    pair, browser, user, login_side, logout_side
):
    log_in(browser, side(pair, login_side), user)
    for app in pair:
        assert user_on(browser, app) == user

    assert browser.get(side(pair, logout_side), "/auth/logout").body["user"] is None

    for app in (pair.other(side(pair, logout_side)), side(pair, logout_side)):
        assert user_on(browser, app) is None, app


def test_passport_user_decides_after_a_logout_that_keeps_the_session_data(pair, browser, user):
    """``req.logout({keepSessionInfo: true})``: the new session still holds Django's
    ``_auth_user_id``; without ``passport.user`` it is no login."""
    log_in(browser, pair.node, user)
    assert user_on(browser, pair.django) == user  # Django's keys are in the session now
    kept = browser.get(pair.node, "/auth/logout", keep="1")
    assert kept.body["user"] is None
    assert "_auth_user_id" in browser.get(pair.node, "/session").body["data"]

    assert user_on(browser, pair.django) is None
    assert "_auth_user_id" not in browser.get(pair.django, "/session").body["data"]
    assert user_on(browser, pair.node) is None


@pytest.mark.parametrize("first", SIDES)
@pytest.mark.parametrize("django_saw_it", [True, False], ids=["bridged", "unseen"])
def test_a_password_change_on_django_logs_out_the_express_session_on_both(
    pair, user, first, django_saw_it
):
    on_express = Browser()
    log_in(on_express, pair.node, user)
    if django_saw_it:
        assert user_on(on_express, pair.django) == user

    changer = Browser()
    log_in(changer, pair.django, user)
    changed = changer.get(pair.django, "/auth/password", password="new password")
    assert changed.body["user"] == user

    here = side(pair, first)
    assert user_on(on_express, here) is None, here
    assert user_on(on_express, pair.other(here)) is None
    # The session that changed the password stays logged in on both.
    assert user_on(changer, pair.node) == user
    assert user_on(changer, pair.django) == user
    # And the new password works on Express.
    log_in(on_express, pair.node, user, "new password")
    assert user_on(on_express, pair.django) == user
