"""Fixtures of the sessions pages' tests: their URLs over the store variant under test,
quick password hashing, and three users."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from tests.sessions_pages.support import PASSWORD, URLS


@pytest.fixture(autouse=True)
def urls(settings, express):
    settings.ROOT_URLCONF = URLS
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    store = express()
    if store.name == "cache" and store.kind == "memcached":
        # Its sessions_of raises CannotListSessions; the pages' handling of that is
        # test_a_store_that_cannot_list_says_so_instead_of_failing, on the other variants.
        pytest.skip("memcached cannot list a user's sessions")


@pytest.fixture
def root(db):
    return User.objects.create_superuser("root", password=PASSWORD)


@pytest.fixture
def alice(db):
    return User.objects.create_user("alice", password=PASSWORD)


@pytest.fixture
def bob(db):
    return User.objects.create_user("bob", password=PASSWORD)
