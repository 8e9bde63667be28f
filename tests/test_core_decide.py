"""express-session's end-of-request decision, run on plain values: no Django request,
no session object, no store. The truth table is the one ``test_semantics`` checks over
HTTP on every store; here each cell goes straight through ``decide()``."""

from __future__ import annotations

import pytest

from django_express_session.core.decide import Decision, Facts, decide
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
