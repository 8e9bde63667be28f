"""``users.logout_everywhere`` in the Django app ends the sessions a real Express app
(passport 0.7 over connect-redis, connect-pg-simple or session-file-store) logged the
user in to, and those Django did, and no one else's."""

from __future__ import annotations

import pytest

from . import test_passport_login as passport_tests
from .conftest import Browser
from .test_passport_login import log_in, new_user, user_on

pytestmark = pytest.mark.interop

# The apps and the users of the passport tests: one user database, the bridge on.
pair, user = passport_tests.pair, passport_tests.user


def test_logout_everywhere_ends_the_users_sessions_on_both_apps_and_no_one_elses(pair, user):
    other = new_user(pair)
    on_express = [Browser(), Browser()]
    for browser in on_express:
        log_in(browser, pair.node, user)  # passport.user only: Django never saw them
    on_django, bystander = Browser(), Browser()
    log_in(on_django, pair.django, user)
    log_in(bystander, pair.node, other)

    ended = Browser().get(pair.django, "/auth/logout-everywhere", username=user)
    assert ended.body == {"ended": 3}

    for browser in [*on_express, on_django]:
        assert user_on(browser, pair.node) is None
        assert user_on(browser, pair.django) is None
    assert user_on(bystander, pair.node) == other
    assert user_on(bystander, pair.django) == other


def test_a_session_the_express_app_wrote_after_django_saw_it_is_ended_too(pair, user):
    browser = Browser()
    log_in(browser, pair.node, user)
    assert user_on(browser, pair.django) == user  # the bridge wrote _auth_user_id
    log_in(Browser(), pair.node, user)
    assert Browser().get(pair.django, "/auth/logout-everywhere", username=user).body == {"ended": 2}
    assert user_on(browser, pair.node) is None
