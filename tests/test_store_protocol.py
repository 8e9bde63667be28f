"""The edges of the store protocol: an express-style store works through the
last-writer-wins adapter (and a check says so), a store missing a primitive is a
start-up error, and every request's I/O goes through the five primitives."""

from __future__ import annotations

import pytest
from django.core import checks

from tests.custom_stores import DictStore
from tests.helpers import cookie_header, set_cookie, sid_of, use_express_session


@pytest.fixture
def dict_store(settings):
    DictStore.records = {}
    use_express_session(settings, store={"backend": "tests.custom_stores.DictStore"})


def test_an_express_style_store_keeps_sessions_across_requests(client, dict_store):
    response = client.get("/set?v=x")
    sid = sid_of(set_cookie(response))
    assert DictStore.records[sid]
    client.cookies.clear()
    again = client.get("/set?w=y", HTTP_COOKIE=cookie_header(sid))
    assert again.status_code == 200
    stored = DictStore().get(sid)
    assert (stored["v"], stored["w"]) == ("x", "y")


def test_an_express_style_store_is_reported_as_last_writer_wins(dict_store):
    found = [message.id for message in checks.run_checks()]
    assert "django_express_session.W003" in found


def test_a_store_without_compare_and_set_is_a_start_up_error(settings):
    settings.EXPRESS_SESSION = {
        "secret": "keyboard cat",
        "resave": False,
        "saveUninitialized": False,
        "store": {"backend": "tests.custom_stores.HalfStore"},
    }
    errors = [message for message in checks.run_checks() if message.id.endswith("E004")]
    assert len(errors) == 1
    assert "create, replace, touch" in errors[0].msg


def test_the_built_in_stores_pass_the_protocol_check(express):
    found = [message.id for message in checks.run_checks()]
    assert "django_express_session.E004" not in found
    assert "django_express_session.W003" not in found
