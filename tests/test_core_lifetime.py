"""The two clocks and touchAfter, decided on plain values (epoch milliseconds): no
Django, no request, no store."""

from __future__ import annotations

from django_express_session.core import lifetime
from django_express_session.core.decide import Facts, decide
from django_express_session.core.lifetime import (
    cap_at,
    capped,
    ends_at,
    past_cap,
    seconds_until,
    started_at,
)
from django_express_session.core.ops import Versioned
from django_express_session.core.state import OWN_KEY, SessionState

SID = "stored-session-id"
NOW = 1_800_000_000_000
MINUTE = 60_000


def loaded(expires_at=None, touched_at=None, touched=False) -> SessionState:
    record = Versioned(
        {"cookie": {}}, version=1, touched=touched, expires_at=expires_at, touched_at=touched_at
    )
    return SessionState.loaded(SID, record, {}, cookie_sid=SID, resave=False)


# -- the absolute clock -----------------------------------------------------------------


def test_the_start_time_is_read_from_the_records_own_key():
    assert started_at({"cookie": {}, OWN_KEY: {"startedAt": NOW}}) == NOW
    assert started_at({"cookie": {}}) is None
    assert started_at({"cookie": {}, OWN_KEY: {"startedAt": "yesterday"}}) is None
    assert started_at({"cookie": {}, OWN_KEY: {"startedAt": True}}) is None
    assert started_at({"cookie": {}, OWN_KEY: "not a dict"}) is None


def test_the_cap_is_the_start_plus_the_absolute_max_age():
    assert cap_at(NOW, 3 * MINUTE) == NOW + 3 * MINUTE
    assert cap_at(NOW, None) is None  # the option is off
    assert cap_at(None, 3 * MINUTE) is None  # a record without a start


def test_a_session_is_past_its_cap_from_the_cap_on():
    cap = NOW + 1000
    assert not past_cap(cap, NOW + 999)
    assert past_cap(cap, NOW + 1000)
    assert not past_cap(None, NOW + 10**9)


def test_an_expiry_never_runs_past_the_cap_and_a_browser_session_cookie_gets_it():
    cap = NOW + MINUTE
    assert capped(NOW + 2 * MINUTE, cap) == cap  # a rolling expiry stops rolling at it
    assert capped(NOW + 1000, cap) == NOW + 1000  # an earlier idle end is kept
    assert capped(None, cap) == cap  # a browser-session cookie
    assert capped(NOW + 2 * MINUTE, None) == NOW + 2 * MINUTE


def test_the_session_ends_by_whichever_clock_comes_first():
    assert ends_at(NOW + MINUTE, NOW + 2 * MINUTE) == NOW + MINUTE
    assert ends_at(NOW + 2 * MINUTE, NOW + MINUTE) == NOW + MINUTE
    assert ends_at(None, NOW + MINUTE) == NOW + MINUTE
    assert ends_at(None, None) is None
    assert seconds_until(NOW + 2500, NOW) == 2
    assert seconds_until(NOW - 2500, NOW) == 0
    assert seconds_until(None, NOW) is None


def test_a_restarted_clock_saves_a_stored_session_but_not_a_new_one():
    facts = Facts(save_uninitialized=False)
    restarted = {"startedAt": NOW}
    assert decide(loaded().with_own(restarted, changed=True), {}, facts).save
    assert not decide(SessionState.new("new-id").with_own(restarted, changed=True), {}, facts).save


# -- touchAfter -------------------------------------------------------------------------


def touch_due(state: SessionState, facts: Facts) -> bool:
    """``touchAfter``'s rule over what the decision knows."""
    return lifetime.touch_due(
        facts.touch_after_ms,
        now=facts.now_ms,
        fresh=facts.fresh_expires_at,
        held=state.store_expires_at,
        touched_at=state.store_touched_at,
    )


def facts(fresh, touch_after=10_000, **more) -> Facts:
    return Facts(touch_after_ms=touch_after, now_ms=NOW, fresh_expires_at=fresh, **more)


def test_without_touch_after_every_request_touches():
    state = loaded(expires_at=NOW + MINUTE)
    assert touch_due(state, Facts(now_ms=NOW, fresh_expires_at=NOW + MINUTE))
    assert decide(state, {}, Facts()).touch


def test_a_store_expiry_within_touch_after_of_a_fresh_one_is_not_touched():
    # Touched 4 s ago with a 60 s lifetime: 56 s left, a touch would give 60 s.
    state = loaded(expires_at=NOW + 56_000)
    assert not touch_due(state, facts(NOW + MINUTE))
    assert not decide(state, {}, facts(NOW + MINUTE)).touch
    # 11 s ago: due.
    assert touch_due(loaded(expires_at=NOW + 49_000), facts(NOW + MINUTE))


def test_a_store_that_keeps_its_last_touch_is_judged_by_it():
    # session-file-store's __lastAccess, connect-mongo's lastModified.
    assert not touch_due(loaded(NOW + 56_000, touched_at=NOW - 4000), facts(NOW + MINUTE))
    assert touch_due(loaded(NOW + 50_000, touched_at=NOW - 10_000), facts(NOW + MINUTE))


def test_a_store_that_cannot_say_touches_every_time():
    assert touch_due(loaded(expires_at=None), facts(NOW + MINUTE))
    assert touch_due(loaded(expires_at=NOW + 59_000), facts(None))


def test_an_expiry_held_at_the_cap_is_never_touched_again():
    cap = NOW + 5000
    assert not touch_due(loaded(expires_at=cap, touched_at=NOW - MINUTE), facts(cap))


def test_under_touch_after_a_rolling_cookie_goes_out_only_with_the_stores_refresh():
    rolling = facts(NOW + MINUTE, rolling=True, has_expiry=True)
    fresh = decide(loaded(expires_at=NOW + 56_000), {}, rolling)
    assert (fresh.touch, fresh.set_cookie) == (False, False)
    due = decide(loaded(expires_at=NOW + 40_000), {}, rolling)
    assert (due.touch, due.set_cookie) == (True, True)
    # Redis refreshed it while reading: the cookie goes with that refresh.
    on_read = decide(loaded(expires_at=NOW + MINUTE, touched=True), {}, rolling)
    assert (on_read.touch, on_read.set_cookie) == (False, True)
    # A modified session is saved, and its cookie sent, whatever touchAfter says.
    modified = decide(loaded(expires_at=NOW + 56_000), {"v": '"y"'}, rolling)
    assert (modified.save, modified.set_cookie) == (True, True)


def test_without_touch_after_rolling_sends_the_cookie_on_every_response():
    state = loaded(expires_at=NOW + 56_000)
    assert decide(state, {}, Facts(rolling=True, has_expiry=True)).set_cookie


# -- a view that leaves the session as it is --------------------------------------------


def test_a_passive_request_neither_saves_nor_touches_nor_sends_the_cookie():
    passive = Facts(passive=True, rolling=True, has_expiry=True, accessed=True)
    decision = decide(loaded(), {"v": '"changed"'}, passive)
    assert (decision.save, decision.touch, decision.set_cookie) == (False, False, False)
    assert decision.vary


def test_a_passive_request_still_clears_the_cookie_of_a_session_that_ended():
    ended = loaded().ended("new-id")
    decision = decide(ended, {}, Facts(passive=True, had_cookie=True))
    assert decision.clear_cookie and not decision.save


# -- Lifetime: the options in one unit ----------------------------------------------------


def test_a_lifetime_caps_a_record_by_the_start_it_carries():
    capped_hour = lifetime.Lifetime(absolute_max_age_ms=60 * MINUTE)
    record = {"cookie": {}, OWN_KEY: {"startedAt": NOW}}
    assert capped_hour.cap_of(record) == NOW + 60 * MINUTE
    assert capped_hour.capped(NOW + 90 * MINUTE, record) == NOW + 60 * MINUTE
    assert capped_hour.past_cap(record, NOW + 60 * MINUTE)
    assert not capped_hour.past_cap(record, NOW + 60 * MINUTE - 1)
    assert lifetime.Lifetime().cap_of(record) is None  # no absoluteMaxAge: no cap


def test_a_lifetime_starts_the_clock_only_with_a_cap():
    assert lifetime.Lifetime().started(None, NOW) is None
    assert lifetime.Lifetime().started({"lastSeenAt": 1}, NOW) == {"lastSeenAt": 1}
    capped_hour = lifetime.Lifetime(absolute_max_age_ms=60 * MINUTE)
    assert capped_hour.started({"lastSeenAt": 1}, NOW) == {"lastSeenAt": 1, "startedAt": NOW}
    assert not capped_hour.restarts_at_login
    assert lifetime.Lifetime(60 * MINUTE, 60 * MINUTE, "login").restarts_at_login
    assert not lifetime.Lifetime(absolute_from="login").restarts_at_login  # no cap to restart


def test_visits_are_recorded_at_the_touch_after_pace_or_every_five_minutes():
    assert lifetime.Lifetime().visit_interval_ms() == 300_000
    assert lifetime.Lifetime(touch_after_ms=10_000).visit_interval_ms() == 10_000


def test_connect_mongos_lazy_touch_leaves_a_recent_record():
    ten_seconds = lifetime.Lifetime(touch_after_ms=10_000)
    assert ten_seconds.touched_recently(NOW - 9_999, NOW)
    assert not ten_seconds.touched_recently(NOW - 10_000, NOW)
    assert not ten_seconds.touched_recently(None, NOW)
    assert not lifetime.Lifetime().touched_recently(NOW, NOW)


def test_the_clock_moves_forward_when_told():
    clock = lifetime.Clock()
    before = clock.now_ms()
    clock.advance(3_600_000)
    assert clock.now_ms() - before >= 3_600_000
    clock.reset()
    assert clock.now_ms() - before < 3_600_000
