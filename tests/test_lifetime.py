"""Session lifetimes over HTTP, on every store: the idle timeout (``maxAge`` with
``rolling``), the absolute cap (``absoluteMaxAge``) that no activity extends,
"remember me", ``touchAfter``, and the status view that reads the session without
touching it.

Time passes by moving the package's clock (``session_clock``), not by sleeping. Where a
server's own clock decides instead (Redis's and memcached's TTL, Django's cache), the
real wait is tested once, in ``tests/test_store_redis.py`` and ``tests/test_store_cache.py``.
"""

from __future__ import annotations

import logging
import time
from email.utils import parsedate_to_datetime

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured

from django_express_session import conf
from django_express_session.core.state import OWN_KEY
from django_express_session.record import now_ms
from django_express_session.session import SessionStore
from tests.helpers import cookie_header, set_cookie, sid_of, stored_session

pytestmark = pytest.mark.django_db

CAP_MS = 3000
#: The stores whose idle expiry is the server's own TTL, which the package's clock does
#: not move.
EXPIRES_BY_THE_SERVERS_CLOCK = {"redis", "cache"}
#: The store whose reported expiry, hence ``touchAfter``'s judgement, is the TTL the
#: server has left (Redis's PTTL).
REPORTS_THE_SERVERS_TTL = {"redis"}
# The stores that count in whole seconds (memcached's clock ticks once a second) may
# end a session up to this much before the cap; none keeps it after.
WHOLE_SECOND = 1000


@pytest.fixture
def lifetime(express, settings):
    """``express`` on the lifetime tests' URLs (the package's status view included)."""

    def configure(**options):
        store = express(**options)
        settings.ROOT_URLCONF = "tests.lifetime_urls"
        return store

    return configure


def expires_ms(line: str) -> int:
    """A Set-Cookie line's ``Expires``, as epoch milliseconds (whole seconds)."""
    attributes = dict(
        part.strip().partition("=")[::2] for part in line.split(";")[1:] if "=" in part
    )
    return int(parsedate_to_datetime(attributes["Expires"]).timestamp() * 1000)


def start(client, **query) -> str:
    response = client.get("/set", {"v": "x", **query})
    return sid_of(set_cookie(response))


def store_expiry(store, sid: str) -> int | None:
    """The store-level expiry as the store reports it (None where it cannot say)."""
    loaded = store.read(sid)
    return None if loaded is None else loaded.expires_at


# -- the absolute cap -------------------------------------------------------------------


def test_a_session_active_every_quarter_second_still_ends_at_its_absolute_cap(
    client, lifetime, session_clock
):
    store = lifetime(absoluteMaxAge=CAP_MS, rolling=True, cookie={"maxAge": 60_000})
    sid = start(client)
    cap = store.get(sid)[OWN_KEY]["startedAt"] + CAP_MS
    header = cookie_header(sid)
    seen = []
    while now_ms() < cap + 750:
        session_clock.advance(250)
        sent = now_ms()
        response = client.get("/read", HTTP_COOKIE=header)
        seen.append((sent, response.json()["data"].get("v") == "x", set_cookie(response)))

    alive = [sent for sent, live, _ in seen if live]
    ended = [sent for sent, live, _ in seen if not live]
    assert alive and ended
    assert max(alive) < min(ended)  # never back once ended
    assert all(sent < cap for sent in alive)
    assert all(sent >= cap - WHOLE_SECOND for sent in ended)
    # The rolling cookie stops rolling at the cap: the browser forgets it then too.
    for _, live, line in seen:
        if live:
            assert expires_ms(line) <= cap
    assert store.get(sid) is None


def test_the_store_expiry_and_the_cookie_never_run_past_the_cap(client, lifetime):
    store = lifetime(absoluteMaxAge=CAP_MS, rolling=True, cookie={"maxAge": 60_000})
    sid = start(client)
    cap = store.get(sid)[OWN_KEY]["startedAt"] + CAP_MS
    response = client.get("/noop", HTTP_COOKIE=cookie_header(sid))
    assert expires_ms(set_cookie(response)) <= cap
    expiry = store_expiry(store, sid)
    if expiry is not None:  # stores counting whole seconds round up to the next one
        assert expiry <= cap + WHOLE_SECOND
    assert store.get(sid)["cookie"]["originalMaxAge"] == 60_000  # the idle clock is kept


def test_a_session_read_past_its_cap_is_destroyed_cleared_and_logged(client, lifetime, caplog):
    store = lifetime(absoluteMaxAge=CAP_MS, cookie={"maxAge": 60_000})
    sid = "started-long-ago-0123456789abcdef"
    store.create(sid, {**stored_session({"v": "x"}), OWN_KEY: {"startedAt": now_ms() - 10_000}})

    with caplog.at_level(logging.INFO, logger="django_express_session"):
        response = client.get("/read", HTTP_COOKIE=cookie_header(sid))

    assert response.json()["data"] == {}  # the request goes on, anonymous
    assert expires_ms(set_cookie(response)) == 0  # the browser's cookie is cleared
    assert store.get(sid) is None
    messages = [record.getMessage() for record in caplog.records]
    assert "session ended: absolute lifetime reached (session starte…)" in messages
    assert not any(sid in message for message in messages)


# 1e15 ms is a JavaScript date (year 33658) past Python's; 1e308 no date at all; a
# start an hour ahead would push the cap an hour later.
@pytest.mark.parametrize("started", [1e15, 1e308, -1e15, "future"])
def test_a_start_no_cap_can_be_counted_from_ends_the_session(client, lifetime, started):
    store = lifetime(absoluteMaxAge=CAP_MS, rolling=True, cookie={"maxAge": 60_000})
    sid = "started-out-of-range-0123456789ab"
    start = now_ms() + 3_600_000 if started == "future" else started
    store.create(sid, {**stored_session({"v": "x"}), OWN_KEY: {"startedAt": start}})

    response = client.get("/read", HTTP_COOKIE=cookie_header(sid))

    assert response.status_code == 200
    assert response.json()["data"] == {}
    assert store.get(sid) is None


def test_a_browser_session_cookie_gets_the_cap_as_its_expiry(client, lifetime):
    store = lifetime(absoluteMaxAge=60_000)
    sid = start(client)
    response = client.get("/set", {"v": "y"}, HTTP_COOKIE=cookie_header(sid))
    cap = store.get(sid)[OWN_KEY]["startedAt"] + 60_000
    assert cap - 1000 <= expires_ms(set_cookie(response)) <= cap


def test_the_start_time_is_kept_out_of_the_sessions_data(client, lifetime):
    store = lifetime(absoluteMaxAge=60_000, cookie={"maxAge": 60_000})
    sid = start(client)
    assert client.get("/read", HTTP_COOKIE=cookie_header(sid)).json()["data"] == {"v": "x"}
    client.get("/set", {"w": "z"}, HTTP_COOKIE=cookie_header(sid))
    assert set(store.get(sid)) >= {"cookie", "v", "w", OWN_KEY}


def test_without_absolute_max_age_the_record_gets_no_key_of_its_own(client, lifetime):
    store = lifetime(cookie={"maxAge": 60_000})
    sid = start(client)
    assert OWN_KEY not in store.get(sid)


def test_a_session_started_elsewhere_starts_its_clock_at_its_first_django_read(client, lifetime):
    store = lifetime(absoluteMaxAge=60_000, cookie={"maxAge": 60_000})
    sid = "made-by-express-0123456789abcdef"
    store.create(sid, stored_session({"v": "x"}))  # as express-session writes it
    before = now_ms()
    client.get("/noop", HTTP_COOKIE=cookie_header(sid))
    assert store.get(sid)[OWN_KEY]["startedAt"] >= before
    assert store.get(sid)["v"] == "x"


def test_a_session_made_outside_a_request_starts_its_clock_when_it_is_created(lifetime):
    store = lifetime(absoluteMaxAge=60_000, cookie={"maxAge": 3_600_000})
    before = now_ms()
    session = SessionStore()
    session["v"] = "x"
    session.save()
    assert store.get(session.session_key)[OWN_KEY]["startedAt"] >= before
    assert session.get_expiry_age() <= 60


@pytest.fixture
def alice():
    return User.objects.create_user("alice", password="secret")


def test_absolute_max_age_from_login_restarts_the_clock_at_login(
    client, lifetime, alice, session_clock
):
    store = lifetime(absoluteMaxAge=60_000, absoluteMaxAgeFrom="login", cookie={"maxAge": 60_000})
    sid = start(client)
    first = store.get(sid)[OWN_KEY]["startedAt"]
    session_clock.advance(50)
    logged_in = client.get("/login-user", HTTP_COOKIE=cookie_header(sid)).content.decode()
    assert logged_in != sid
    assert store.get(logged_in)[OWN_KEY]["startedAt"] > first


def test_by_default_login_keeps_the_clock_of_the_session(client, lifetime, alice):
    store = lifetime(absoluteMaxAge=60_000, cookie={"maxAge": 60_000})
    sid = start(client)
    first = store.get(sid)[OWN_KEY]["startedAt"]
    logged_in = client.get("/login-user", HTTP_COOKIE=cookie_header(sid)).content.decode()
    assert store.get(logged_in)[OWN_KEY]["startedAt"] == first


# -- the idle timeout and "remember me" (docs/lifetimes.md's recipes) ----------------


def test_idle_timeout_recipe_activity_keeps_the_session_and_silence_ends_it(
    client, lifetime, session_clock
):
    store = lifetime(rolling=True, cookie={"maxAge": 3100})
    if store.name in EXPIRES_BY_THE_SERVERS_CLOCK:
        pytest.skip("the server's TTL ends the session: tests/test_store_<backend>.py waits")
    sid = start(client)
    header = cookie_header(sid)
    for _ in range(9):  # 3.6 s, longer than the idle timeout
        session_clock.advance(400)
        assert client.get("/read", HTTP_COOKIE=header).json()["data"] == {"v": "x"}
    session_clock.advance(4200)  # silence: longer than the idle timeout (and a second more)
    assert client.get("/read", HTTP_COOKIE=header).json()["data"] == {}


def test_remember_me_recipe_a_long_lifetime_for_the_sessions_that_asked(client, lifetime, alice):
    store = lifetime(cookie={"maxAge": 30 * 60_000})  # 30 minutes for everyone else
    remembered = client.get("/login-remembered", {"remember": "1"})
    forgotten = client.get("/login-remembered", HTTP_COOKIE="")
    now = now_ms()
    thirty_days = 30 * 24 * 3600 * 1000
    assert abs(expires_ms(set_cookie(remembered)) - (now + thirty_days)) < 5000
    assert abs(expires_ms(set_cookie(forgotten)) - (now + 30 * 60_000)) < 5000
    sid = sid_of(set_cookie(remembered))
    assert store.get(sid)["cookie"]["originalMaxAge"] == thirty_days
    expiry = store_expiry(store, sid)
    if expiry is not None:
        assert abs(expiry - (now + thirty_days)) < 5000
    # It stays remembered on the next visits.
    client.get("/noop", HTTP_COOKIE=cookie_header(sid))
    assert store.get(sid)["cookie"]["originalMaxAge"] == thirty_days


def test_absolute_timeout_recipe_caps_a_remembered_session_too(client, lifetime, alice):
    store = lifetime(absoluteMaxAge=3_600_000, cookie={"maxAge": 30 * 60_000})
    remembered = client.get("/login-remembered", {"remember": "1"})
    sid = sid_of(set_cookie(remembered))
    cap = store.get(sid)[OWN_KEY]["startedAt"] + 3_600_000
    assert cap - 1000 <= expires_ms(set_cookie(remembered)) <= cap


# -- touchAfter -------------------------------------------------------------------------


def test_touch_after_refreshes_an_unmodified_session_at_most_once_per_interval(
    client, lifetime, spy, session_clock
):
    store = lifetime(touchAfter=2, cookie={"maxAge": 60_000})
    if store.name in REPORTS_THE_SERVERS_TTL:
        pytest.skip("the server's TTL says when: tests/test_store_<backend>.py waits")
    sid = start(client)
    header = cookie_header(sid)
    calls = spy()

    client.get("/noop", HTTP_COOKIE=header)
    assert calls.take() == ["get"]  # written a moment ago: no touch
    before = store_expiry(store, sid)
    calls.take()
    session_clock.advance(2300)
    client.get("/noop", HTTP_COOKIE=header)
    assert calls.take() == ["get", "touch"]
    after = store_expiry(store, sid)
    calls.take()
    if before is not None and after is not None:
        assert after - before >= 2000
    client.get("/noop", HTTP_COOKIE=header)
    assert calls.take() == ["get"]  # just touched
    client.get("/set", {"v": "y"}, HTTP_COOKIE=header)
    assert calls.take() == ["get", "set"]  # a modified session is always saved
    assert store.get(sid)["v"] == "y"


def test_under_touch_after_a_rolling_cookie_is_resent_only_when_the_store_is_touched(
    client, lifetime, session_clock
):
    store = lifetime(touchAfter=2, rolling=True, cookie={"maxAge": 60_000})
    if store.name in REPORTS_THE_SERVERS_TTL:
        pytest.skip("the server's TTL says when: tests/test_store_<backend>.py waits")
    sid = start(client)
    header = cookie_header(sid)
    assert set_cookie(client.get("/noop", HTTP_COOKIE=header)) is None
    session_clock.advance(2300)
    line = set_cookie(client.get("/noop", HTTP_COOKIE=header))
    assert line is not None and sid_of(line) == sid
    expiry = store_expiry(store, sid)
    if expiry is not None:  # never a later Expires than the store holds (to the second)
        assert expires_ms(line) <= expiry + WHOLE_SECOND


# -- the status view --------------------------------------------------------------------


def test_polling_the_status_view_does_not_extend_the_session(client, lifetime, spy, session_clock):
    store = lifetime(rolling=True, absoluteMaxAge=600_000, cookie={"maxAge": 60_000})
    sid = start(client)
    header = cookie_header(sid)
    session_clock.advance(1100)  # a touch would now move the expiry by a second
    if store.name in REPORTS_THE_SERVERS_TTL:
        time.sleep(1.1)  # the server's TTL, which a touch would restart, counts real time
    before = store_expiry(store, sid)
    calls = spy()

    response = client.get("/session/status", HTTP_COOKIE=header)

    status = response.json()
    assert status["active"] is True
    assert 55 <= status["expires_in"] <= 60
    assert 595 <= status["absolute_expires_in"] <= 600
    assert set_cookie(response) is None
    assert calls.take() == ["get"]  # read, neither touched nor saved
    assert store_expiry(store, sid) == before
    assert response["Cache-Control"].startswith("max-age=0")


def test_the_status_of_no_session_is_inactive(client, lifetime):
    lifetime(cookie={"maxAge": 60_000})
    response = client.get("/session/status")
    assert response.json() == {"active": False, "expires_in": None, "absolute_expires_in": None}
    assert set_cookie(response) is None


def test_expires_in_counts_down_to_the_nearer_clock(client, lifetime):
    lifetime(absoluteMaxAge=10_000, cookie={"maxAge": 60_000})
    sid = start(client)
    assert 8 <= client.get("/expires-in", HTTP_COOKIE=cookie_header(sid)).json()["expires_in"] <= 10


# -- options ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options, key",
    [
        ({"absoluteMaxAge": 0}, "absoluteMaxAge"),
        ({"absoluteMaxAge": "1h"}, "absoluteMaxAge"),
        ({"absoluteMaxAgeFrom": "first-visit"}, "absoluteMaxAgeFrom"),
        ({"touchAfter": -1}, "touchAfter"),
        ({"touchAfter": True}, "touchAfter"),
    ],
)
def test_bad_lifetime_options_are_named(options, key):
    with pytest.raises(ImproperlyConfigured, match=key):
        conf.parse({"secret": "s", **options})


def test_touch_after_given_twice_must_agree():
    store_options = {"backend": "memory", "options": {"touchAfter": 10}}
    with pytest.raises(ImproperlyConfigured, match="touchAfter"):
        conf.parse({"secret": "s", "touchAfter": 5, "store": store_options})
    same = conf.parse({"secret": "s", "touchAfter": 10, "store": store_options})
    assert same.lifetime.touch_after_ms == 10_000
    alone = conf.parse({"secret": "s", "store": store_options})
    assert alone.lifetime.touch_after_ms == 10_000  # connect-mongo's option alone: one value
    assert alone.lifetime.visit_interval_ms() == 10_000  # track's pace too, not 300 s


def test_the_top_level_touch_after_reaches_the_store(client, lifetime):
    store = lifetime(touchAfter=5, cookie={"maxAge": 60_000})
    assert store.touch_after == 5
    sid = start(client)
    if store.name == "mongodb":  # connect-mongo's own field for its lazy touch
        assert "lastModified" in store._collection().find_one({"_id": sid})


def test_a_session_read_past_its_cap_sends_session_ended_expired(client, lifetime):
    from django_express_session.signals import session_ended

    store = lifetime(absoluteMaxAge=CAP_MS, cookie={"maxAge": 60_000})
    sid = "started-long-ago-0123456789abcdef"
    # A record an Express app kept alive past the cap.
    store.create(sid, {**stored_session({"v": "x"}), OWN_KEY: {"startedAt": now_ms() - 10_000}})
    ended = []

    def receiver(sender, session_key, reason, **kwargs):
        ended.append((session_key, reason))

    session_ended.connect(receiver)
    try:
        client.get("/read", HTTP_COOKIE=cookie_header(sid))
    finally:
        session_ended.disconnect(receiver)
    assert ended == [(sid, "expired")]
