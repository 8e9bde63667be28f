"""Client details (``track``) over HTTP, on every store: what a record gets when it is
first stored, the visit written at most once per interval, the client's address under
the proxy trust rules, and ``written_by`` telling which app wrote the record last."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import ImproperlyConfigured
from django.test import AsyncClient

from django_express_session import conf, record, tracking, users
from django_express_session.core.lifetime import DEFAULT_VISIT_INTERVAL_MS
from django_express_session.core.state import OWN_KEY
from django_express_session.session import SessionStore
from tests.helpers import cookie_header, set_cookie, sid_of

pytestmark = pytest.mark.django_db

HOUR_MS = 3_600_000
LAPTOP = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Safari/604.1"


@pytest.fixture
def track(express):
    """``express`` with ``track`` on (both details unless told) and an hour's cookie."""

    def configure(details=("ip", "userAgent"), **options):
        return express(track=list(details), cookie={"maxAge": HOUR_MS}, **options)

    return configure


@pytest.fixture
def clock(session_clock):
    """Move the session's clock forward by whole seconds."""

    def advance(seconds: float) -> None:
        session_clock.advance(int(seconds * 1000))

    return advance


def start(client, **headers) -> str:
    response = client.get("/set", {"v": "x"}, HTTP_USER_AGENT=LAPTOP, **headers)
    return sid_of(set_cookie(response))


def own(store, sid: str) -> dict:
    return store.get(sid)[OWN_KEY]


# -- what is recorded -------------------------------------------------------------------


def test_the_first_store_records_when_and_from_which_client(client, track):
    store = track()
    before = record.now_ms()
    sid = start(client)
    recorded = own(store, sid)
    assert before <= recorded["createdAt"] == recorded["lastSeenAt"] <= record.now_ms()
    assert recorded["ip"] == "127.0.0.1"
    assert recorded["userAgent"] == LAPTOP
    assert recorded["writtenBy"] == "django"
    assert store.get(sid)["v"] == "x"


def test_an_async_request_is_recorded_alike(track):
    store = track()
    get = async_to_sync(AsyncClient().get)
    response = get("/async-set", {"v": "x"}, headers={"user-agent": LAPTOP})
    sid = sid_of(set_cookie(response))
    assert (own(store, sid)["ip"], own(store, sid)["userAgent"]) == ("127.0.0.1", LAPTOP)
    assert tracking.written_by(store.get(sid), store.metadata_keys) == "django"


def test_only_the_listed_details_are_recorded(client, track):
    store = track(details=["userAgent"])
    recorded = own(store, start(client))
    assert "ip" not in recorded
    assert recorded["userAgent"] == LAPTOP
    assert {"createdAt", "lastSeenAt"} <= set(recorded)


def test_without_track_the_record_gets_nothing_of_it(client, express):
    store = express(cookie={"maxAge": HOUR_MS})
    assert OWN_KEY not in store.get(start(client))


def test_a_long_user_agent_is_cut(client, track):
    store = track()
    response = client.get("/set", {"v": "x"}, HTTP_USER_AGENT="A" * 5000)
    agent = own(store, sid_of(set_cookie(response)))["userAgent"]
    assert agent == "A" * tracking.USER_AGENT_LIMIT


def test_the_details_are_not_the_sessions_data(client, track):
    store = track()
    sid = start(client)
    assert client.get("/read", HTTP_COOKIE=cookie_header(sid)).json()["data"] == {"v": "x"}
    session = SessionStore(sid)
    assert list(session.keys()) == ["v"]
    assert dict(session.items()) == {"v": "x"}
    assert not session.modified
    assert OWN_KEY in store.get(sid)


def test_an_anonymous_visitor_still_stores_nothing(client, track, spy):
    store = track()
    stored_before = set(store.all())  # (a shared database may hold other tests' rows)
    calls = spy()
    for path in ("/noop", "/read"):
        response = client.get(path, HTTP_USER_AGENT=LAPTOP)
        assert set_cookie(response) is None
    assert "set" not in calls.take()
    assert set(store.all()) == stored_before


# -- at most one visit per interval -----------------------------------------------------


def test_a_request_within_the_interval_writes_nothing(client, track, spy, clock):
    store = track()
    sid = start(client)
    first = own(store, sid)
    calls = spy()
    clock(DEFAULT_VISIT_INTERVAL_MS / 1000 - 5)
    response = client.get("/noop", HTTP_COOKIE=cookie_header(sid), HTTP_USER_AGENT=LAPTOP)
    assert "set" not in calls.take()
    assert set_cookie(response) is None
    assert own(store, sid) == first


def test_after_the_interval_one_request_writes_the_visit(client, track, spy, clock):
    store = track()
    sid = start(client)
    first = own(store, sid)
    calls = spy()
    clock(DEFAULT_VISIT_INTERVAL_MS / 1000 + 1)
    response = client.get("/noop", HTTP_COOKIE=cookie_header(sid), HTTP_USER_AGENT=LAPTOP)
    assert "set" in calls.take()
    assert set_cookie(response) is None  # no rolling: the cookie is not resent
    after = own(store, sid)
    assert after["lastSeenAt"] >= first["lastSeenAt"] + DEFAULT_VISIT_INTERVAL_MS
    assert after["createdAt"] == first["createdAt"]
    assert store.get(sid)["v"] == "x"
    # ... and the next request is inside the new interval again.
    client.get("/noop", HTTP_COOKIE=cookie_header(sid), HTTP_USER_AGENT=LAPTOP)
    assert "set" not in calls.take()


def test_touch_after_sets_the_interval(client, track, spy, clock):
    store = track(touchAfter=30)
    sid = start(client)
    calls = spy()
    clock(20)
    client.get("/noop", HTTP_COOKIE=cookie_header(sid))
    assert "set" not in calls.take()
    clock(11)
    client.get("/noop", HTTP_COOKIE=cookie_header(sid))
    assert calls.take() == ["get", "set"]
    assert own(store, sid)["lastSeenAt"] >= record.now_ms() - 1000


def test_a_new_network_is_recorded_at_the_next_periodic_write(client, track, clock):
    store = track(proxy=True)
    sid = start(client, HTTP_X_FORWARDED_FOR="198.51.100.7")
    header = cookie_header(sid)
    client.get(
        "/noop", HTTP_COOKIE=header, HTTP_USER_AGENT=PHONE, HTTP_X_FORWARDED_FOR="203.0.113.9"
    )
    assert (own(store, sid)["ip"], own(store, sid)["userAgent"]) == ("198.51.100.7", LAPTOP)
    clock(DEFAULT_VISIT_INTERVAL_MS / 1000 + 1)
    client.get(
        "/noop", HTTP_COOKIE=header, HTTP_USER_AGENT=PHONE, HTTP_X_FORWARDED_FOR="203.0.113.9"
    )
    assert (own(store, sid)["ip"], own(store, sid)["userAgent"]) == ("203.0.113.9", PHONE)


def test_a_write_for_other_reasons_records_the_visit_too(client, track, clock):
    store = track()
    sid = start(client)
    first = own(store, sid)["lastSeenAt"]
    clock(10)
    client.get("/set", {"w": "y"}, HTTP_COOKIE=cookie_header(sid))
    assert own(store, sid)["lastSeenAt"] >= first + 10_000


def test_a_session_written_elsewhere_gets_its_visit_at_its_first_django_request(client, track):
    store = track()
    sid = "made-by-express-0123456789abcdef"
    store.create(sid, {"cookie": {"originalMaxAge": HOUR_MS, "expires": None}, "v": "x"})
    client.get("/noop", HTTP_COOKIE=cookie_header(sid), HTTP_USER_AGENT=LAPTOP)
    recorded = own(store, sid)
    assert recorded["userAgent"] == LAPTOP
    assert recorded["createdAt"] == recorded["lastSeenAt"]


def test_the_absolute_clock_and_the_visits_share_the_dict(client, track, clock):
    store = track(absoluteMaxAge=HOUR_MS)
    sid = start(client)
    started = own(store, sid)["startedAt"]
    assert own(store, sid)["createdAt"] >= started
    clock(DEFAULT_VISIT_INTERVAL_MS / 1000 + 1)
    client.get("/noop", HTTP_COOKIE=cookie_header(sid))
    assert own(store, sid)["startedAt"] == started
    assert own(store, sid)["lastSeenAt"] >= started + DEFAULT_VISIT_INTERVAL_MS


def test_under_rolling_the_periodic_write_resends_the_cookie(client, track, clock):
    track(rolling=True, touchAfter=60)
    sid = start(client)
    clock(30)
    assert set_cookie(client.get("/noop", HTTP_COOKIE=cookie_header(sid))) is None
    clock(31)
    line = set_cookie(client.get("/noop", HTTP_COOKIE=cookie_header(sid)))
    assert line is not None and sid_of(line) == sid


# -- the client's address ---------------------------------------------------------------


@pytest.mark.parametrize(
    "proxy, ssl_header, expected",
    [
        (None, None, "127.0.0.1"),  # Django trusts no proxy: neither do we
        (None, ("HTTP_X_FORWARDED_PROTO", "https"), "198.51.100.7"),
        (True, None, "198.51.100.7"),
        (False, ("HTTP_X_FORWARDED_PROTO", "https"), "127.0.0.1"),
    ],
)
def test_x_forwarded_for_counts_only_from_a_trusted_proxy(
    client, track, settings, proxy, ssl_header, expected
):
    settings.SECURE_PROXY_SSL_HEADER = ssl_header
    store = track(proxy=proxy)
    sid = start(client, HTTP_X_FORWARDED_FOR="198.51.100.7, 10.0.0.2")
    assert own(store, sid)["ip"] == expected


def test_a_forwarded_entry_that_is_no_address_is_ignored(client, track):
    store = track(proxy=True)
    sid = start(client, HTTP_X_FORWARDED_FOR="<script>, 10.0.0.2")
    assert own(store, sid)["ip"] == "127.0.0.1"


# -- which app wrote it last ------------------------------------------------------------


def test_written_by_says_django_until_the_contents_change_elsewhere(client, track, clock):
    store = track(rolling=True)
    sid = start(client)
    metadata = store.metadata_keys
    assert tracking.written_by(store.get(sid), metadata) == "django"
    clock(5)
    client.get("/noop", HTTP_COOKIE=cookie_header(sid))  # a touch: the expiry moves
    assert tracking.written_by(store.get(sid), metadata) == "django"

    rewritten = {**store.get(sid), "cart": ["book"]}  # what an Express app's write leaves
    store.set(sid, rewritten)
    assert tracking.written_by(store.get(sid), metadata) == "express"
    client.get("/set", {"w": "y"}, HTTP_COOKIE=cookie_header(sid))
    assert tracking.written_by(store.get(sid), metadata) == "django"


def test_written_by_is_unknown_without_a_digest():
    assert tracking.written_by({"cookie": {}, "v": "x"}) is None
    assert tracking.written_by({"cookie": {}, OWN_KEY: {"startedAt": 1}}) is None


def test_written_by_takes_the_express_apps_word_for_its_own_writes():
    # What the npm package's guard() with track leaves: no digest of Django's.
    written = {"lastSeenAt": 1, "writtenBy": "express"}
    assert tracking.written_by({"cookie": {}, "v": "x", OWN_KEY: written}) == "express"


def test_sessions_of_shows_the_recorded_details(client, track, settings, django_user_model):
    settings.ROOT_URLCONF = "tests.identity_support"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    if getattr(track(), "kind", None) == "memcached":
        pytest.skip("memcached cannot list a user's sessions (test_users covers the error)")
    alice = django_user_model.objects.create_user("alice", password="pw")
    client.get("/login", {"username": "alice", "password": "pw"}, HTTP_USER_AGENT=LAPTOP)
    (listed,) = users.sessions_of(alice)
    assert (listed.ip, listed.user_agent, listed.written_by) == ("127.0.0.1", LAPTOP, "django")
    assert listed.created_at is not None and listed.last_seen_at == listed.created_at


# -- the option -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, named",
    [("ip", "'ip'"), (["ip", "cookies"], "'cookies'"), ({"ip": True}, "list"), ([None], "None")],
)
def test_a_bad_track_option_is_named(value, named):
    with pytest.raises(ImproperlyConfigured, match=r"EXPRESS_SESSION\['track'\]") as raised:
        conf.parse({"secret": "s", "track": value})
    assert named in str(raised.value)


def test_track_defaults_to_off_and_takes_any_subset():
    assert conf.parse({"secret": "s"}).track == ()
    assert conf.parse({"secret": "s", "track": []}).track == ()
    assert conf.parse({"secret": "s", "track": ["userAgent", "ip"]}).track == ("userAgent", "ip")
