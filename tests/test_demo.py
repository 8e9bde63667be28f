"""The demo page (``testproject/demo``) tells what each action did, refuses bad input on
the page, explains the keys of the stored record and fits a phone."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.helpers import NAME, sid_of, user_data

pytestmark = pytest.mark.django_db

DEMO_COOKIE = {"maxAge": 3_600_000, "sameSite": "lax"}


@pytest.fixture
def demo(express, settings):
    """The demo's URLs over the store under test; returns the store."""
    store = express(cookie=DEMO_COOKIE)
    settings.ROOT_URLCONF = "testproject.urls"
    return store


@pytest.fixture
def browser(demo) -> Client:
    """A browser that has visited the page once, so it has a stored session."""
    client = Client()
    client.get("/")
    return client


def sid(client: Client) -> str:
    return sid_of(f"{NAME}={client.cookies[NAME].value}")


def test_after_destroy_the_page_says_so_and_stores_nothing(browser, demo):
    old = sid(browser)

    response = browser.post("/action/destroy", follow=True)

    assert "destroy(): the record was removed" in response.text
    assert demo.get(old) is None
    assert response.context["views"] == 0
    assert NAME not in response.cookies  # the page after it starts no session
    assert "Nothing stored" in response.text


def test_after_touch_the_page_says_so_and_the_record_gets_no_message(browser, demo):
    response = browser.post("/action/touch", follow=True)

    assert "touch(): the expiry restarted from now (originalMaxAge: 3600000 ms)" in response.text
    assert set(demo.get(sid(browser))) <= {"cookie", "views", *demo.metadata_keys}


def test_a_new_max_age_is_applied_and_told(browser, demo):
    response = browser.post("/action/maxage", {"max_age_ms": "90000"}, follow=True)

    assert "cookie.max_age set: the session now ends 90000 ms after each request" in response.text
    assert demo.get(sid(browser))["cookie"]["originalMaxAge"] == 90_000
    assert response.context["max_age_form"]["max_age_ms"].value() == 90_000


@pytest.mark.parametrize(
    ("given", "error"),
    [
        ("abc", "max_age is a whole number of milliseconds"),
        ("1.5", "max_age is a whole number of milliseconds"),
        ("-5", "max_age must be at least 1 ms"),
        ("0", "max_age must be at least 1 ms"),
        ("", "Give the new max_age in milliseconds"),
        ("99999999999999999", "max_age can be at most a year"),
    ],
)
def test_a_bad_max_age_is_a_form_error_on_the_page(browser, demo, given, error):
    before = demo.get(sid(browser))

    response = browser.post("/action/maxage", {"max_age_ms": given})

    assert response.status_code == 400
    assert error in response.text
    assert f'name="max_age_ms" id="id_max_age_ms" value="{given}"' in response.text
    after = demo.get(sid(browser))  # nothing lost (the request only touched the expiry)
    assert after["cookie"]["originalMaxAge"] == before["cookie"]["originalMaxAge"] == 3_600_000
    assert {**user_data(after), "cookie": None} == {**user_data(before), "cookie": None}


def test_a_wrong_password_is_a_form_error_that_keeps_the_user_name(browser):
    User.objects.create_user("demo", password="demo")

    response = browser.post("/login", {"username": "demo", "password": "nope"})

    assert response.status_code == 400
    assert "Wrong user name or password" in response.text
    assert 'value="demo"' in response.text


def test_login_and_logout_are_told(browser):
    User.objects.create_user("demo", password="demo")

    logged_in = browser.post("/login", {"username": "demo", "password": "demo"}, follow=True)
    logged_out = browser.post("/logout", follow=True)

    assert "Logged in as demo: login() gave the session a new id" in logged_in.text
    assert "Logged out: logout() destroyed the record" in logged_out.text


def test_the_stored_record_separates_the_views_data_from_the_keys_django_adds(browser, demo):
    User.objects.create_user("demo", password="demo")
    browser.post("/login", {"username": "demo", "password": "demo"})

    response = browser.get("/")

    assert json.loads(response.context["data_json"]) == {"views": 1}
    explained = {key: what for key, _, what in response.context["added_keys"]}
    assert {"cookie", "_auth_user_id", "_auth_user_backend", "_auth_user_hash"} <= set(explained)
    assert set(explained) - {"cookie"} - set(demo.metadata_keys) == {
        "_auth_user_id",
        "_auth_user_backend",
        "_auth_user_hash",
        "djangoExpressSession",  # login() records the proof of identity (authAt)
    }
    assert "the logged-in user's primary key" in explained["_auth_user_id"]
    # The whole record, as Express reads it, is one click away.
    assert {"cookie", "views", "_auth_user_id"} <= set(json.loads(response.context["stored_json"]))


def test_an_unknown_action_is_not_found(browser):
    assert browser.post("/action/explode").status_code == 404


def test_the_page_is_laid_out_for_a_phone(browser):
    page = browser.get("/").text

    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "@media (max-width: 36rem)" in page
