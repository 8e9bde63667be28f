"""Django's session API as Django's own session tests use it, on every store: code
written against ``SessionBase`` cannot tell this engine apart."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from django_express_session.session import SessionStore

pytestmark = pytest.mark.django_db(transaction=True)


def test_expiry_age_and_date_take_django_modification_and_expiry_arguments(express):
    express(cookie={"maxAge": 3_600_000})
    session = SessionStore()
    now = timezone.now()
    later = now + timedelta(seconds=600)
    assert session.get_expiry_age(modification=now, expiry=later) == 600
    assert session.get_expiry_age(expiry=120) == 120
    assert session.get_expiry_date(modification=now, expiry=120) == now + timedelta(seconds=120)
    assert session.get_expiry_date(expiry=later) == later
    # Without expiry, the idle timeout, counted from the modification as in Django.
    assert session.get_expiry_age(modification=now - timedelta(seconds=10)) == 3_600
    assert session.get_expiry_date(modification=now) == now + timedelta(hours=1)


def test_an_expiry_in_seconds_counts_from_the_modification(express):
    express(cookie={"maxAge": 3_600_000})
    session = SessionStore()
    modification = timezone.now() - timedelta(seconds=30)
    for expiry in (10, timedelta(seconds=10)):
        session.set_expiry(expiry)
        assert session.get_expiry_date(modification=modification) == modification + timedelta(
            seconds=10
        )
        assert session.get_expiry_age(modification=modification) == 10
        assert session.get_expiry_age() == 10


def test_an_expiry_given_as_a_moment_stays_that_moment(express):
    express(cookie={"maxAge": 3_600_000})
    session = SessionStore()
    moment = timezone.now() + timedelta(seconds=90)
    session.set_expiry(moment)
    earlier = moment - timedelta(seconds=100)
    assert session.get_expiry_date(modification=earlier) == moment
    assert session.get_expiry_age(modification=earlier) == 100


def test_the_expiry_never_runs_past_the_absolute_cap(express):
    express(cookie={"maxAge": 3_600_000}, absoluteMaxAge=60_000)
    made = SessionStore()
    made.save()
    session = SessionStore(made.session_key)  # its absolute clock starts at this load
    assert 59 <= session.get_expiry_age() <= 60
    assert session.get_expiry_date() <= timezone.now() + timedelta(seconds=60)


def test_set_expiry_none_takes_the_default_as_the_settings_say_now(express, settings):
    express()
    settings.SESSION_COOKIE_AGE = 600
    session = SessionStore()
    session.set_expiry(None)
    assert (session.get_expiry_age(), session.get_expire_at_browser_close()) == (600, False)
    settings.SESSION_EXPIRE_AT_BROWSER_CLOSE = True
    session.set_expiry(None)
    assert session.get_expire_at_browser_close() is True


def test_expiry_of_a_browser_session_cookie_is_the_session_cookie_age(express, settings):
    express()
    assert SessionStore().get_expiry_age() == settings.SESSION_COOKIE_AGE


def test_a_key_shorter_than_eight_characters_is_no_key(express):
    express()
    assert SessionStore("short").session_key is None
    assert SessionStore("long-enough").session_key == "long-enough"


def test_the_store_bookkeeping_keys_are_kept_but_not_shown(express):
    store = express()
    session = SessionStore()
    session["v"] = 1
    session.save()
    sid = session.session_key
    again = SessionStore(sid)
    again.reload()
    assert dict(again.items()) == {"v": 1}
    again["w"] = 2
    again.save()
    stored = store.get(sid)
    assert (stored["v"], stored["w"]) == (1, 2)
    assert set(stored) - {"cookie", "v", "w"} <= store.metadata_keys


@pytest.mark.parametrize("store_settings", ["file"], indirect=True)
def test_the_file_store_keeps_last_access_out_of_the_session_data(express):
    store = express()
    session = SessionStore()
    session["v"] = 1
    session.save()
    stored = store.get(session.session_key)
    assert "__lastAccess" in stored
    loaded = SessionStore(session.session_key)
    assert list(loaded.keys()) == ["v"]
    loaded["w"] = 2
    loaded.save()
    assert "__lastAccess" in store.get(session.session_key)
