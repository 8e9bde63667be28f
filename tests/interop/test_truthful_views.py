"""The package's pages and ``manage.py sessionevents`` against sessions the real Express
app (passport 0.7 over connect-redis 9) made and Django never saw.

The Express and Django apps share a Redis store and the users database (as in
``test_logout_everywhere_thorough``); this process serves the admin and the user page on
the same store, with the same identity bridge, and a user of the same name (passport's
``field`` is the username, so it names the same person)."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import User
from django.test import Client

from django_express_session import users
from django_express_session.management.commands.sessionevents import listener_for
from django_express_session.record import sid_hint
from tests.sessions_pages.support import PASSWORD, URLS, logged_in
from tests.test_store_redis_events import running, sessions_ended, wait_for

from . import test_logout_everywhere_thorough as thorough
from .conftest import Browser
from .test_logout_everywhere_thorough import new_user
from .test_passport_login import log_in, user_on

# The apps on connect-redis with passport, and this process on their store.
spec, pair, store = thorough.spec, thorough.pair, thorough.store

pytestmark = [
    pytest.mark.interop,
    pytest.mark.django_db,
    pytest.mark.parametrize("spec", ["redis"], indirect=True),
]


@pytest.fixture
def pages(store, settings):
    """This process serves the admin and the user page on the apps' store."""
    settings.ROOT_URLCONF = URLS
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    store.mark_index_unsure()  # no listener of another test vouches for the index
    return store


def express_only(pair, users_database) -> tuple[User, Browser]:
    """A user logged in on the Express app only, and here the same user (same name and
    primary key: the records name both)."""
    remote = new_user(pair, users_database)
    on_express = Browser()
    log_in(on_express, pair.node, remote.username, "pw")
    user = User.objects.create_user(remote.username, password=PASSWORD, pk=remote.pk)
    return user, on_express


@pytest.fixture
def admin_client(pages):
    """An admin whose primary key no user of the apps' database has."""
    root = User.objects.create_superuser("root", password=PASSWORD, pk=10**9)
    client = Client()
    client.force_login(root)
    return client


def test_end_from_the_list_across_users_ends_an_express_only_session(
    pair, pages, users_database, admin_client
):
    bob, on_express = express_only(pair, users_database)
    hint = sid_hint(on_express.sid())
    assert users.sessions_of(bob) == []  # the index has not seen it

    page = admin_client.get("/admin/auth/user/sessions/").content.decode()
    assert f"<code>{hint}</code>" in page
    # Each view of bob lists it too.
    for url in (
        f"/admin/auth/user/{bob.pk}/change/",
        f"/admin/auth/user/sessions/?user={bob.pk}",
        f"/admin/auth/user/sessions/?q={bob.username}",
    ):
        assert f"<code>{hint}</code>" in admin_client.get(url).content.decode(), url

    ref = users.ref_of(on_express.sid())
    assert f'name="ref" value="{ref}"' in page  # its End button
    response = admin_client.post(
        f"/admin/auth/user/{bob.pk}/sessions/end/", {"ref": ref, "next": "/admin/"}, follow=True
    )
    assert f"Ended one session of {bob.username}." in response.content.decode()
    assert user_on(on_express, pair.node) is None
    assert user_on(on_express, pair.django) is None


def test_the_user_page_offers_to_end_an_express_only_session(pair, pages, users_database):
    alice, on_express = express_only(pair, users_database)
    here = logged_in(alice.username)
    page = here.get("/account/sessions/").content.decode()
    assert f"<code>{sid_hint(on_express.sid())}</code>" in page
    assert "Log out of 1 other session" in page
    assert "Back to the site" in page

    response = here.post("/account/sessions/end-others", follow=True)
    assert "Logged out of 1 other session." in response.content.decode()
    assert user_on(on_express, pair.node) is None


@pytest.fixture
def listening(pages):
    with sessions_ended() as ended, running(listener_for(pages, beat=0.5)):
        yield ended


def test_with_sessionevents_an_express_login_is_listed_at_once_and_its_expiry_sent(
    pair, pages, users_database, listening
):
    carol, on_express = express_only(pair, users_database)
    sid = on_express.sid()
    started = time.monotonic()
    wait_for(lambda: users.sessions_of(carol), 5)  # the index only, no scan
    assert time.monotonic() - started < 5
    assert [s.hint for s in users.sessions_of(carol)] == [sid_hint(sid)]

    # The Express session goes idle with a 1.5 s cookie: Redis expires it.
    assert on_express.get(pair.node, "/max-age", ms="1500").status == 200
    assert wait_for(lambda: (None, sid, "expired") in listening, 15)
    assert users.sessions_of(carol) == []
