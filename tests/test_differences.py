"""The deliberate differences from express-session 1.19 (docs/differences.md), one test each, on
every store."""

import pytest

from django_express_session import conf
from tests.helpers import cookie_header, set_cookie, sid_of, stored_session, user_data

pytestmark = pytest.mark.django_db

SID = "existing-session-id-0123456789abc"


def _existing(store, data=None, max_age=60_000):
    store.create(SID, stored_session(data or {"v": "x"}, max_age))
    return {"HTTP_COOKIE": cookie_header(SID)}


def test_destroy_clears_the_browser_cookie_and_calls_the_store_once(client, express, spy):
    headers = _existing(express())
    calls = spy()
    response = client.get("/destroy", **headers)
    line = set_cookie(response)
    assert line == "connect.sid=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly"
    assert calls.take() == ["get", "destroy"]
    assert calls.store.get(SID) is None


def test_unset_destroy_destroys_once_and_clears_the_cookie(client, express, spy):
    headers = _existing(express(unset="destroy"))
    calls = spy()
    response = client.get("/unset", **headers)
    assert set_cookie(response).startswith("connect.sid=; Path=/; Expires=Thu, 01 Jan 1970")
    assert calls.take() == ["get", "destroy"]


def test_unset_keep_keeps_the_record_and_drops_the_changes(client, express, spy):
    headers = _existing(express(unset="keep"))
    calls = spy()
    response = client.get("/unset", **headers)
    assert set_cookie(response) is None
    # Nothing is written (a store that refreshes the expiry as it reads has done so).
    assert calls.take() in (["get"], ["get", "touch"])
    assert calls.store.get(SID)["v"] == "x" and "lost" not in calls.store.get(SID)


def test_deleting_the_attribute_is_an_unset(client, express):
    store = express(unset="destroy")
    headers = _existing(store)
    client.get("/delete", **headers)
    assert store.get(SID) is None


def test_cookie_path_matches_as_rfc_6265_says(client, express):
    store = express(cookie={"path": "/foo"}, saveUninitialized=True)
    assert set_cookie(client.get("/foo/bar")) is not None
    assert set_cookie(client.get("/foobar")) is None  # express would match /foobar
    assert store.length() == 1


def test_a_new_max_age_reaches_the_browser_and_the_store(client, express):
    store = express()
    headers = _existing(store)
    response = client.get("/max-age?ms=120000", **headers)
    line = set_cookie(response)
    assert sid_of(line) == SID and "Expires=" in line
    assert store.get(SID)["cookie"]["originalMaxAge"] == 120000


def test_a_new_session_whose_secure_cookie_cannot_be_sent_is_not_stored(client, express, spy):
    express(cookie={"secure": True})
    calls = spy()
    assert set_cookie(client.get("/set?v=x")) is None
    assert calls.take() == []


def test_no_save_and_no_cookie_on_a_server_error(client, express, spy):
    headers = _existing(express(saveUninitialized=True))
    calls = spy()
    response = client.get("/error", **headers)
    assert response.status_code == 500
    assert set_cookie(response) is None
    assert calls.take() in (["get"], ["get", "touch"])
    assert calls.store.get(SID)["v"] == "x"


def test_vary_cookie_when_the_session_is_read_or_the_cookie_set(client, express):
    express()
    assert "Vary" not in client.get("/noop")
    assert client.get("/read")["Vary"] == "Cookie"
    assert client.get("/set?v=x")["Vary"] == "Cookie"


def test_regenerate_then_save_writes_once(client, express, spy):
    headers = _existing(express())
    calls = spy()
    response = client.get("/regenerate-save", **headers)
    new_sid = response.content.decode()
    assert calls.take() == ["get", "destroy", "set"]
    assert sid_of(set_cookie(response)) == new_sid != SID
    assert calls.store.get(new_sid)["v"] == "new"
    assert calls.store.get(SID) is None


def test_regenerate_can_keep_the_data(client, express):
    store = express()
    headers = _existing(store, {"v": "x", "cart": [1, 2]})
    new_sid = client.get("/regenerate?keep=1", **headers).content.decode()
    assert new_sid != SID and store.get(SID) is None
    stored = store.get(new_sid)
    assert stored["v"] == "x" and stored["cart"] == [1, 2] and stored["after"] == "regenerate"


def test_regenerate_drops_the_data_by_default_as_express_does(client, express):
    store = express()
    headers = _existing(store)
    new_sid = client.get("/regenerate", **headers).content.decode()
    assert list(user_data(store.get(new_sid))) == ["cookie", "after"]


def test_the_default_secrets_are_secret_key_and_its_fallbacks(client, settings, express):
    settings.SECRET_KEY = "current"
    settings.SECRET_KEY_FALLBACKS = ["previous"]
    store = express(secret=None)
    store.create(SID, stored_session({"v": "x"}))
    previous = conf.derive_secret("previous")
    response = client.get("/read", HTTP_COOKIE=cookie_header(SID, secret=previous))
    assert user_data(response.json()["data"]) == {"v": "x"}
    assert conf.get_options().secrets == (
        conf.derive_secret("current"),
        conf.derive_secret("previous"),
    )


def test_the_store_is_written_before_the_response_is_returned(client, express):
    store = express()
    response = client.get("/set?v=x")
    # The middleware returned: the record is already there (express may still be writing).
    assert store.get(sid_of(set_cookie(response)))["v"] == "x"


def auto_cookie(request):
    return {"secure": "auto", "sameSite": "auto", "maxAge": 60_000}


def test_auto_is_resolved_for_a_cookie_function_too(client, express):
    """express 1.19 reads "auto" from a static ``cookie`` only: a function's "auto" is
    stored as it is, and ``sameSite: "auto"`` makes its serialize throw."""
    store = express(cookie=f"{__name__}.auto_cookie")
    line = set_cookie(client.get("/set", {"v": "1"}, secure=True))
    assert "; Secure" in line and "; SameSite=None" in line
    stored = user_data(store.get(sid_of(line)))["cookie"]
    assert stored["secure"] is True and stored["sameSite"] == "none"
