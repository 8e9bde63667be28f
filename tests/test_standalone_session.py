"""``SessionStore`` used outside a request, as Django code does (``SessionStore(key)``),
on every store: an unknown key is never adopted, and saving it is Django's
``UpdateError``, never a record written under None or a backend error."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync

from django_express_session.exceptions import UpdateError
from django_express_session.session import SessionStore

pytestmark = pytest.mark.django_db(transaction=True)


def test_saving_an_unknown_key_raises_update_error_and_stores_nothing(express):
    store = express()
    session = SessionStore("unknown-session-key")
    with pytest.raises(UpdateError):
        session.save()
    assert store.get("unknown-session-key") is None
    assert session.session_key is None


def test_asave_of_an_unknown_key_raises_update_error(express):
    express()
    session = SessionStore("unknown-session-key")
    with pytest.raises(UpdateError):
        async_to_sync(session.asave)()


def test_data_set_on_an_unknown_key_goes_to_a_new_session(express):
    store = express()
    session = SessionStore("unknown-session-key")
    session["v"] = 1  # the load found nothing: Django starts a new session
    session.save()
    assert session.session_key not in (None, "unknown-session-key")
    assert store.get(session.session_key)["v"] == 1
    assert store.get("unknown-session-key") is None


def test_a_known_key_loads_and_saves_in_place(express):
    store = express()
    first = SessionStore()
    first["v"] = 1
    first.save()
    again = SessionStore(first.session_key)
    again["w"] = 2
    again.save()
    assert again.session_key == first.session_key
    stored = store.get(first.session_key)
    assert (stored["v"], stored["w"]) == (1, 2)


def test_exists_of_no_key_is_false(express):
    express()
    session = SessionStore()
    assert session.exists(None) is False
    assert session.exists("") is False
    assert async_to_sync(session.aexists)(None) is False


def test_a_known_keys_cookie_is_the_stored_one(express):
    store = express()
    store.set("known-session-key", {
        "cookie": {"originalMaxAge": 60_000, "expires": "2099-01-01T00:00:00.000Z",
                   "path": "/shop", "httpOnly": True},
        "v": 1,
    })  # fmt: skip
    cookie = SessionStore("known-session-key").cookie  # nothing else asked for first
    assert (cookie.original_max_age, cookie.path) == (60_000, "/shop")
    assert cookie.expires.year == 2099
