"""The session's bookkeeping as a value: each transition, with no Django, no store."""

from __future__ import annotations

import subprocess
import sys

from django_express_session.core.ops import Versioned
from django_express_session.core.state import OWN_KEY, Mode, SessionState, own_moment

DATA = {"v": '"x"'}


def loaded(resave: bool = False, touched: bool = False) -> SessionState:
    record = Versioned({"cookie": {}, "v": "x"}, version="v1", touched=touched)
    return SessionState.loaded("sid-1", record, DATA, cookie_sid="sid-1", resave=resave)


def test_new_is_live_unsaved_and_new_to_the_browser():
    state = SessionState.new("sid-1")
    assert (state.mode, state.stored, state.was_saved, state.is_new) == (
        Mode.LIVE, False, False, True,
    )  # fmt: skip
    assert not state.is_modified({})
    assert state.is_modified(DATA)


def test_new_with_a_cookie_for_another_id_is_still_new():
    assert SessionState.new("sid-2", cookie_sid="unknown").is_new


def test_loaded_counts_as_saved_and_stored():
    state = loaded()
    assert (state.stored, state.is_new, state.was_saved) == (True, False, True)
    assert state.is_saved(DATA) and not state.is_modified(DATA)
    assert state.version.version == "v1" and state.in_store == DATA


def test_loaded_with_resave_counts_as_never_saved():
    state = loaded(resave=True)
    assert not state.was_saved and not state.is_saved(DATA)


def test_loaded_remembers_a_touch_made_while_reading():
    assert loaded(touched=True).touched_on_read
    assert not loaded().touched_on_read


def test_key_order_is_a_modification():
    state = SessionState.loaded(
        "s", Versioned({"cookie": {}}), {"a": "1", "b": "2"}, cookie_sid="s", resave=False
    )
    assert state.is_modified({"b": "2", "a": "1"})


def test_rotated_keeps_the_original_id_so_it_counts_as_modified():
    state = loaded().rotated("sid-2")
    assert (state.sid, state.original_id, state.stored, state.version) == (
        "sid-2", "sid-1", False, None,
    )  # fmt: skip
    assert state.is_modified(DATA) and state.is_new


def test_renewed_is_new_and_saved_as_its_data():
    state = loaded().renewed("sid-2", DATA)
    assert (state.sid, state.original_id, state.stored) == ("sid-2", "sid-2", False)
    assert state.is_saved(DATA)


def test_ended_starts_a_new_empty_session_and_remembers_the_end():
    state = loaded().ended("sid-2")
    assert (state.mode, state.sid, state.stored, state.cookie_sid) == (
        Mode.ENDED, "sid-2", False, "sid-1",
    )  # fmt: skip


def test_destroyed_holds_nothing():
    state = loaded().destroyed()
    assert (state.mode, state.stored, state.version) == (Mode.DESTROYED, False, None)


def test_detached_keeps_everything_else():
    state = loaded().detached()
    assert state.mode is Mode.DETACHED and state.stored


def test_saved_as_is_express_saved_hash_under_the_current_id():
    state = SessionState.new("sid-1").saved_as(DATA)
    assert state.is_saved(DATA) and state.saved_id == "sid-1"
    assert not state.rotated("sid-2").is_saved(DATA)


def test_written_means_the_store_holds_it_and_forgets_the_read_version():
    state = loaded().written("sid-1", {"v": '"y"'})
    assert (state.stored, state.in_store, state.version) == (True, {"v": '"y"'}, None)


def test_written_under_another_id_after_a_create_collision_moves_the_ids_along():
    state = SessionState.new("taken").saved_as(DATA).written("fresh", DATA)
    assert (state.sid, state.original_id, state.saved_id) == ("fresh", "fresh", "fresh")
    assert state.is_saved(DATA)


def test_forgotten_after_its_record_is_deleted():
    state = loaded().forgotten()
    assert (state.stored, state.version, state.sid) == (False, None, "sid-1")


def test_reloaded_takes_the_latest_record_and_keeps_express_hashes():
    fresh = Versioned({"cookie": {}, "v": "z"}, version="v2")
    state = loaded().reloaded(fresh, {"v": '"z"'})
    assert (state.version.version, state.in_store, state.original) == ("v2", {"v": '"z"'}, DATA)


def test_the_records_own_dict_is_read_with_it_and_kept_until_written():
    own = {"startedAt": 1, "lastSeenAt": 2}
    record = Versioned({"cookie": {}, "v": "x", OWN_KEY: own}, version="v1")
    state = SessionState.loaded("sid-1", record, DATA, cookie_sid="sid-1", resave=False)
    assert (state.own, state.own_changed) == (own, False)
    assert state.own is not own  # a copy: changing it never changes the record read
    changed = state.with_own({**own, "lastSeenAt": 3}, changed=True)
    assert own_moment(changed.renewed("sid-2", DATA).own, "lastSeenAt") == 3
    assert changed.rotated("sid-2").own_changed
    assert not changed.written("sid-1", DATA).own_changed
    assert changed.reloaded(record, DATA).own == own


def test_a_record_without_a_dict_of_its_own_has_none():
    for value in (None, "not a dict", [1]):
        record = Versioned({"cookie": {}, OWN_KEY: value}, version="v1")
        state = SessionState.loaded("sid-1", record, {}, cookie_sid="sid-1", resave=False)
        assert state.own is None
    assert own_moment({"lastSeenAt": True}, "lastSeenAt") is None
    assert own_moment({"lastSeenAt": 5.9}, "lastSeenAt") == 5


def test_the_state_and_the_decision_need_no_django():
    code = (
        "import sys; import django_express_session.core.state, django_express_session.core.decide;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert shown.strip() == "[]"
