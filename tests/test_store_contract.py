"""The store protocol every backend keeps, on every store variant, through the plain
primitives and through their async twins: read/create/replace/destroy/touch, the bulk
methods, and the compare-and-set merge concurrent requests rely on."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync

from django_express_session.core import plans
from django_express_session.core.drive import arun, run
from django_express_session.exceptions import CreateError, UpdateError
from django_express_session.record import Changes
from tests.helpers import stored_session, user_data

pytestmark = pytest.mark.django_db


class Calls:
    """A store's methods called as sync code does (``read``) or as async code does
    (``await aread``), so every test runs once per calling style."""

    def __init__(self, store: Any, style: str) -> None:
        self.store = store
        self.style = style

    def __getattr__(self, method: str) -> Any:
        if self.style == "sync":
            return getattr(self.store, method)
        return async_to_sync(getattr(self.store, "a" + method))

    def update(self, sid: str, changes: Changes, known: Any = None) -> Any:
        plan = plans.update(sid, changes, known)
        if self.style == "sync":
            return run(plan, self.store)
        return async_to_sync(arun)(plan, self.store)


@pytest.fixture(params=["sync", "async"])
def store(request, express):
    return Calls(express(), request.param)


def test_set_get_destroy(store):
    session = stored_session({"views": 1, "name": "Zoë", "nested": {"a": [1, 2.5, None]}})
    store.set("sid-1", session)
    assert user_data(store.get("sid-1")) == session
    store.destroy("sid-1")
    assert store.get("sid-1") is None
    store.destroy("sid-1")  # destroying what is gone is no error


def test_read_gives_the_record_and_a_version(store):
    assert store.read("sid-1") is None
    store.create("sid-1", stored_session({"v": 1}))
    loaded = store.read("sid-1")
    assert loaded.record["v"] == 1
    assert "cookie" in loaded.record


def test_create_never_overwrites(store):
    store.create("sid-1", stored_session({"v": 1}))
    with pytest.raises(CreateError):
        store.create("sid-1", stored_session({"v": 2}))
    assert store.get("sid-1")["v"] == 1


def test_replace_is_a_compare_and_set(store):
    store.create("sid-1", stored_session({"v": 1}))
    seen = store.read("sid-1")
    store.set("sid-1", {**store.get("sid-1"), "v": 2})  # another request wrote meanwhile
    assert store.replace("sid-1", stored_session({"v": 3}), seen.version) is False
    fresh = store.read("sid-1")
    assert store.replace("sid-1", stored_session({"v": 3}), fresh.version) is True
    assert store.get("sid-1")["v"] == 3


def test_replace_never_resurrects(store):
    store.create("sid-1", stored_session({"v": 1}))
    seen = store.read("sid-1")
    store.destroy("sid-1")
    assert store.replace("sid-1", stored_session({"v": 2}), seen.version) is False
    assert store.get("sid-1") is None


def test_update_of_a_destroyed_session_raises(store):
    store.create("sid-1", stored_session({"a": 1}))
    known = store.read("sid-1")
    store.destroy("sid-1")
    with pytest.raises(UpdateError):
        store.update("sid-1", Changes(stored_session({})["cookie"], {"a": 2}), known)
    assert store.get("sid-1") is None


def test_updates_from_the_same_loaded_version_merge(store):
    store.create("sid-1", stored_session({"a": 0, "b": 0, "gone": 1}))
    known = store.read("sid-1")
    cookie = stored_session({})["cookie"]
    store.update("sid-1", Changes(cookie, {"a": 1}), known)
    # The second request loaded the same version: its write retries on the fresh record.
    store.update("sid-1", Changes(cookie, {"b": 1}, frozenset({"gone"})), known)
    stored = store.get("sid-1")
    assert (stored["a"], stored["b"], "gone" in stored) == (1, 1, False)
    assert next(iter(stored)) == "cookie"


def test_touch_never_recreates(store):
    store.touch("never-stored", stored_session({}))
    assert store.get("never-stored") is None
    store.set("sid-1", stored_session({"v": 1}))
    store.destroy("sid-1")
    store.touch("sid-1", stored_session({"v": 1}))
    assert store.get("sid-1") is None


def test_touch_keeps_the_data(store):
    store.set("sid-1", stored_session({"v": 1}, max_age=5_000))
    store.touch("sid-1", stored_session({"v": "not this"}, max_age=60_000))
    assert store.get("sid-1")["v"] == 1


def _lists(store: Calls) -> bool:
    try:
        store.length()
    except NotImplementedError:
        return False
    return True


def test_bulk_methods_see_live_records_only(store):
    if not _lists(store):
        pytest.skip(f"the {store.store.name} store cannot list sessions here")
    store.clear()
    store.set("live-1", stored_session({"n": 1}))
    store.set("live-2", stored_session({"n": 2}))
    store.set("gone", stored_session({"n": 3}, max_age=-5_000))
    assert store.length() == 2
    assert sorted(store.all()) == ["live-1", "live-2"]
    store.clear()
    assert store.length() == 0


def test_prune_leaves_live_records(store):
    store.set("live", stored_session({"n": 1}))
    store.prune()
    assert store.get("live")["n"] == 1
