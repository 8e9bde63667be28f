"""Fixtures of the session policy tests (imported by each of their modules): the
policies' URLconf, a user, the ``session_ended`` signals sent, and a skip on the store
that cannot list a user's sessions."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from django_express_session import conf, signals


@pytest.fixture(autouse=True)
def urls(settings, express):
    settings.ROOT_URLCONF = "tests.policies_support"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def listable(request, express):
    """Tests run on the stores that can list a user's sessions, but those named for
    memcached, which run there alone."""
    store = conf.get_store()
    on_memcached = store.name == "cache" and store.kind == "memcached"
    if on_memcached and "memcached" not in request.node.originalname:
        pytest.skip("memcached cannot list a user's sessions")
    if not on_memcached and "memcached" in request.node.originalname:
        pytest.skip("memcached only")


@pytest.fixture
def alice(db):
    return User.objects.create_user("alice", password="pw")


@pytest.fixture
def ended():
    """The ``session_ended`` signals sent, as (session_key, reason)."""
    seen = []

    def receiver(sender, session, session_key, reason, **kwargs):
        seen.append((session_key, reason))

    signals.session_ended.connect(receiver)
    yield seen
    signals.session_ended.disconnect(receiver)
