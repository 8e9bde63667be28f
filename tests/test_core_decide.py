"""express-session's end-of-request decision, run on plain values: no Django request,
no session object, no store. The truth table is the one ``test_semantics`` checks over
HTTP on every store; here each cell goes straight through ``decide()``."""

from __future__ import annotations

import pytest

from django_express_session.core.decide import (
    Decision,
    Facts,
    decide,
    should_record_visit,
    visit_due,
)
from django_express_session.core.ops import Versioned
from django_express_session.core.state import SessionState
from tests.test_semantics import _cells

STORED = "stored-session-id"
NEW = "fresh-session-id"
BEFORE = {"v": '"x"'}  # the fingerprint of {"v": "x"}
AFTER = {"S1": {}, "S2": {"v": '"x"'}, "S3": BEFORE, "S5": BEFORE, "S4": {"v": '"y"'},
         "S6": {}, "S7": {"v": '"x"'}}  # fmt: skip


def state_for(scenario: str, resave: bool) -> SessionState:
    if scenario in ("S3", "S4", "S5"):
        loaded = Versioned({"cookie": {}, "v": "x"}, version=1)
        return SessionState.loaded(STORED, loaded, BEFORE, cookie_sid=STORED, resave=resave)
    cookie_sid = "signed-but-not-stored" if scenario in ("S6", "S7") else None
    return SessionState.new(NEW, cookie_sid)


@pytest.mark.parametrize(
    "resave,save_uninitialized,rolling,max_age,scenario,expected_cookie,expected_calls",
    list(_cells()),
)
def test_truth_table(
    resave, save_uninitialized, rolling, max_age, scenario, expected_cookie, expected_calls
):
    facts = Facts(
        had_cookie=scenario not in ("S1", "S2"),
        save_uninitialized=save_uninitialized,
        rolling=rolling,
        has_expiry=max_age is not None,
    )
    decision = decide(state_for(scenario, resave), AFTER[scenario], facts)

    assert decision.set_cookie is (expected_cookie != "SC-")
    calls = [] if expected_calls == "-" else expected_calls.split(",")
    assert decision.save is ("set" in calls)
    assert decision.touch is ("touch" in calls)
    assert not decision.destroy and not decision.clear_cookie


def test_no_save_and_no_cookie_on_a_server_error():
    state = SessionState.new(NEW)
    decision = decide(state, {"v": '"x"'}, Facts(status_code=500, accessed=True))
    assert decision == Decision(vary=True)


def test_unset_under_unset_destroy_destroys_and_clears_the_cookie():
    loaded = SessionState.loaded(
        STORED, Versioned({"cookie": {}}), {}, cookie_sid=STORED, resave=False
    )
    decision = decide(loaded, None, Facts(unset=True, unset_destroys=True, had_cookie=True))
    assert decision == Decision(destroy=True, clear_cookie=True, vary=True)
    kept = decide(loaded, None, Facts(unset=True, had_cookie=True))
    assert kept == Decision()


def test_a_destroyed_session_clears_the_cookie_the_browser_sent():
    state = SessionState.new(STORED, STORED).destroyed()
    assert decide(state, None, Facts(had_cookie=True)) == Decision(clear_cookie=True, vary=True)
    assert decide(state, None, Facts(had_cookie=False)) == Decision()


def test_a_flushed_session_clears_the_cookie_unless_a_new_one_replaces_it():
    loaded = SessionState.loaded(
        STORED, Versioned({"cookie": {}}), {}, cookie_sid=STORED, resave=False
    )
    ended = loaded.ended(NEW)
    facts = Facts(had_cookie=True, save_uninitialized=False)
    assert decide(ended, {}, facts) == Decision(clear_cookie=True, vary=True)
    replaced = decide(ended, {"v": '"x"'}, facts)
    assert (replaced.save, replaced.set_cookie, replaced.clear_cookie) == (True, True, False)


def test_a_secure_cookie_over_plain_http_is_not_sent_and_saves_no_new_session():
    state = SessionState.new(NEW)
    facts = Facts(cookie_secure=True, secure_request=False)
    assert decide(state, {"v": '"x"'}, facts) == Decision()
    over_tls = decide(state, {"v": '"x"'}, Facts(cookie_secure=True, secure_request=True))
    assert (over_tls.save, over_tls.set_cookie) == (True, True)


def test_an_expiry_change_saves_and_resends_the_cookie():
    loaded = SessionState.loaded(
        STORED, Versioned({"cookie": {}}), {}, cookie_sid=STORED, resave=False
    )
    decision = decide(loaded, {}, Facts(expiry_changed=True))
    assert (decision.save, decision.set_cookie, decision.touch) == (True, True, False)


def test_a_session_the_store_touched_while_reading_is_not_touched_again():
    loaded = SessionState.loaded(
        STORED, Versioned({"cookie": {}}, touched=True), {}, cookie_sid=STORED, resave=False
    )
    assert decide(loaded, {}, Facts()).touch is False


def test_a_detached_session_is_never_saved_nor_sent():
    state = SessionState.new(NEW).detached()
    assert decide(state, {"v": '"x"'}, Facts(accessed=True)) == Decision(vary=True)


# -- track: the periodic visit ----------------------------------------------------------

NOW = 1_750_000_000_000
INTERVAL = 300_000


def seen(last_seen_at, sid_in_cookie=STORED) -> SessionState:
    own = {} if last_seen_at is None else {"lastSeenAt": last_seen_at}
    record = Versioned({"cookie": {}, "djangoExpressSession": own})
    return SessionState.loaded(STORED, record, {}, cookie_sid=sid_in_cookie, resave=False)


def visit_facts(interval=INTERVAL, **more) -> Facts:
    return Facts(visit_interval_ms=interval, now_ms=NOW, save_uninitialized=False, **more)


def test_a_visit_is_due_once_the_last_one_is_an_interval_old():
    assert not visit_due(NOW - INTERVAL + 1, NOW, INTERVAL)
    assert visit_due(NOW - INTERVAL, NOW, INTERVAL)
    assert visit_due(None, NOW, INTERVAL)  # never recorded (an Express app's record)


def test_an_unchanged_session_is_written_only_when_its_visit_is_due():
    assert not should_record_visit(seen(NOW - 1000), visit_facts())
    assert should_record_visit(seen(NOW - INTERVAL), visit_facts())
    assert not decide(seen(NOW - 1000), {}, visit_facts()).save
    due = decide(seen(NOW - INTERVAL), {}, visit_facts())
    assert (due.save, due.touch, due.set_cookie) == (True, False, False)


def test_no_visit_is_written_without_track():
    assert not should_record_visit(seen(None), visit_facts(interval=None))
    assert not decide(seen(None), {}, visit_facts(interval=None)).save


def test_a_visit_never_stores_a_session_that_is_not_stored():
    for state in (SessionState.new(NEW), SessionState.new(NEW, "signed-but-not-stored")):
        assert not should_record_visit(state, visit_facts())
        assert not decide(state, {}, visit_facts()).save  # saveUninitialized: false holds


def test_a_visit_is_not_written_for_an_ended_destroyed_or_detached_session():
    loaded = seen(None)
    for state in (loaded.destroyed(), loaded.detached(), loaded.ended(NEW)):
        assert not should_record_visit(state, visit_facts())


def test_a_passive_request_or_a_server_error_writes_no_visit():
    assert not decide(seen(None), {}, visit_facts(passive=True)).save
    assert not decide(seen(None), {}, visit_facts(status_code=500)).save
