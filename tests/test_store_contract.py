"""The store contract every backend keeps, run on every store variant: express's
get/set/destroy/touch, and the safe writes concurrent requests rely on."""

import pytest

from django_express_session.exceptions import CreateError, UpdateError
from django_express_session.record import Changes
from tests.helpers import stored_session, user_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def store(express):
    return express()


def test_set_get_destroy(store):
    session = stored_session({"views": 1, "name": "Zoë", "nested": {"a": [1, 2.5, None]}})
    store.set("sid-1", session)
    assert user_data(store.get("sid-1")) == session
    store.destroy("sid-1")
    assert store.get("sid-1") is None
    store.destroy("sid-1")  # destroying what is gone is no error


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
