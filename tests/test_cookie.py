"""The Cookie object (express-session ``session/cookie.js``)."""

from datetime import datetime, timedelta, timezone

import pytest

from django_express_session.cookie import Cookie


def test_defaults_are_a_browser_session_cookie():
    assert Cookie().to_json() == {
        "originalMaxAge": None,
        "expires": None,
        "httpOnly": True,
        "path": "/",
    }


def test_max_age_counts_down_and_original_max_age_stays():
    cookie = Cookie()
    cookie.max_age = 60000
    assert 59000 < cookie.max_age <= 60000
    assert cookie.original_max_age == 60000
    cookie._expires -= timedelta(seconds=10)
    assert 49000 < cookie.max_age <= 50000
    cookie.reset_max_age()
    assert 59000 < cookie.max_age <= 60000 and cookie.original_max_age == 60000


def test_fractional_max_age_is_truncated_as_javascript_dates_are():
    cookie = Cookie()
    cookie.max_age = 1500.7
    assert cookie.original_max_age == 1500


@pytest.mark.parametrize("value", ["42", True, object()])
def test_max_age_must_be_a_number(value):
    with pytest.raises(TypeError):
        Cookie().max_age = value


def test_setting_expires_derives_original_max_age():
    cookie = Cookie()
    cookie.expires = datetime.now(timezone.utc) + timedelta(minutes=1)
    assert 59000 < cookie.original_max_age <= 60000
    assert cookie.expiry_changed


def test_json_round_trip_keeps_stored_original_max_age_and_unset_keys():
    stored = {
        "originalMaxAge": 3600000,
        "expires": "2026-11-22T04:26:19.106Z",
        "secure": False,
        "httpOnly": True,
        "domain": "example.test",
        "path": "/",
        "sameSite": "lax",
    }
    assert Cookie.from_json(stored).to_json() == stored


def test_python_style_timestamps_are_read():
    cookie = Cookie.from_json({"originalMaxAge": 1, "expires": "2026-11-22T05:25:31.614123+00:00"})
    assert cookie.to_json()["expires"] == "2026-11-22T05:25:31.614Z"


def test_expires_false_is_kept_as_express_stores_it():
    cookie = Cookie.from_json({"originalMaxAge": False, "expires": False, "path": "/"})
    assert cookie.to_json() == {
        "originalMaxAge": False,
        "expires": False,
        "httpOnly": True,
        "path": "/",
    }
    cookie.reset_max_age()
    assert cookie.expires is False


def test_serialize_matches_express():
    cookie = Cookie.from_json(
        {
            "originalMaxAge": 60000,
            "expires": "2026-11-22T03:25:58.052Z",
            "httpOnly": True,
            "path": "/",
            "domain": "example.com",
            "partitioned": True,
            "priority": "high",
            "sameSite": "lax",
        }
    )
    assert cookie.serialize("connect.sid", "s%3AaYj7") == (
        "connect.sid=s%3AaYj7; Domain=example.com; Path=/; Expires=Sun, 22 Nov 2026 03:25:58 GMT; "
        "HttpOnly; Partitioned; Priority=High; SameSite=Lax"
    )


def test_same_site_true_is_strict():
    cookie = Cookie()
    cookie.same_site = True
    assert cookie.serialize("n", "v") == "n=v; Path=/; HttpOnly; SameSite=Strict"
