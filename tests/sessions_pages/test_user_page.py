"""The user's own sessions page (``django_express_session.urls``): "your sessions",
"log out of other sessions" and "end this one session" (test client)."""

from __future__ import annotations

import re
from functools import partial

import pytest
from django.test import Client

from tests.sessions_pages.support import (
    logged_in,
    ref_of,
    sid_of,
    unlisting_store,
    user_of,
)
from tests.test_identity import browser

pytestmark = pytest.mark.django_db

PAGE = "/account/sessions/"
END_OTHERS = "/account/sessions/end-others"


def end_one(ref: str) -> str:
    return f"/account/sessions/{ref}/end"


def test_the_page_needs_a_login(settings):
    for response in (browser().get(PAGE), browser().post(END_OTHERS)):
        assert response.status_code == 302
        assert response["Location"].startswith(settings.LOGIN_URL)


def test_the_page_lists_the_users_sessions_this_one_first(alice, bob):
    laptop, phone, other = logged_in("alice"), logged_in("alice"), logged_in("bob")
    response = phone.get(PAGE)
    assert response["Cache-Control"].startswith("max-age=0")
    assert response.context["sessions"][0].hint[:6] == sid_of(phone)[:6]
    assert response.context["current"].hint[:6] == sid_of(phone)[:6]
    assert response.context["others"] == 1
    page = response.content.decode()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "this device" in page and "Log out of 1 other session" in page
    assert f"/account/sessions/{ref_of(laptop)}/end" in page
    assert f"/account/sessions/{ref_of(phone)}/end" not in page  # no "end" for this one
    assert sid_of(other)[:6] not in page and sid_of(laptop) not in page


def test_log_out_of_other_sessions_keeps_this_one_and_other_users(alice, bob):
    laptop, phone, tablet, other = (logged_in(n) for n in ("alice", "alice", "alice", "bob"))
    response = phone.post(END_OTHERS, follow=True)
    assert response.redirect_chain == [(PAGE, 302)]
    assert "Logged out of 2 other sessions." in response.content.decode()
    assert user_of(laptop) is None and user_of(tablet) is None
    assert user_of(phone) == "alice" and user_of(other) == "bob"
    assert "You are signed in here only." in response.content.decode()


def test_end_one_session_by_its_ref(alice, bob):
    laptop, phone, other = logged_in("alice"), logged_in("alice"), logged_in("bob")
    response = phone.post(end_one(ref_of(laptop)), follow=True)
    assert "The session was ended." in response.content.decode()
    assert user_of(laptop) is None and user_of(phone) == "alice"
    response = phone.post(end_one(ref_of(other)), follow=True)  # bob's: not alice's to end
    assert "That session had already ended." in response.content.decode()
    assert user_of(other) == "bob"


def test_this_browsers_own_session_is_ended_by_logging_out(alice):
    phone = logged_in("alice")
    response = phone.post(end_one(ref_of(phone)), follow=True)
    assert "log out to end it" in response.content.decode()
    assert user_of(phone) == "alice"


def test_the_actions_are_post_only_and_csrf_protected(alice):
    laptop = logged_in("alice")
    phone = logged_in("alice", browser(client_class=partial(Client, enforce_csrf_checks=True)))
    assert phone.get(END_OTHERS).status_code == 405
    assert phone.get(end_one(ref_of(laptop))).status_code == 405
    assert phone.post(END_OTHERS).status_code == 403
    assert phone.post(end_one(ref_of(laptop))).status_code == 403
    assert user_of(laptop) == "alice"
    token = str(phone.get(PAGE).context["csrf_token"])
    assert phone.post(END_OTHERS, {"csrfmiddlewaretoken": token}).status_code == 302
    assert user_of(laptop) is None and user_of(phone) == "alice"


def test_a_store_that_cannot_list_says_so_instead_of_failing(settings, memcached_server, alice):
    unlisting_store(settings, memcached_server)
    phone = logged_in("alice")
    assert "sessions on memcached" in phone.get(PAGE).content.decode()
    response = phone.post(END_OTHERS, follow=True)
    assert "No session was ended" in response.content.decode()
    assert user_of(phone) == "alice"


def test_log_out_everywhere_else_is_offered_when_alone(alice):
    page = logged_in("alice").get(PAGE).content.decode()
    assert "You are signed in here only." in page
    assert "Log out everywhere else" in page and 'action="/account/sessions/end-others"' in page


def test_the_page_leads_back_to_the_site_and_shows_times_as_the_admin(settings, express, alice):
    settings.USE_TZ, settings.TIME_ZONE = True, "Europe/Paris"
    express(cookie={"maxAge": 3_600_000})
    page = logged_in("alice").get(PAGE).content.decode()
    assert '<a href="/">Back to the site</a>' in page
    # SHORT_DATETIME_FORMAT in the current time zone, with the zone's name.
    expires = re.search(r'<time datetime="[^"]+">([^<]+)</time></dd>\s*</dl>', page).group(1)
    assert re.fullmatch(r"\d\d/\d\d/\d{4} \d{1,2}:\d\d (a\.m\.|p\.m\.) CES?T", expires), expires
