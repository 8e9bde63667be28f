"""The memory store: bounded, expiring, safe to share between threads."""

import threading
import time

import pytest

from django_express_session.exceptions import CreateError
from django_express_session.record import Changes
from django_express_session.stores.memory import MemoryStore
from tests.helpers import merge, stored_session


def test_least_recently_used_sessions_go_first_beyond_max():
    store = MemoryStore.from_options({"max": 3})
    for sid in "abc":
        store.set(sid, stored_session({"n": sid}))
    store.get("a")  # a is now the most recent
    store.set("d", stored_session({"n": "d"}))
    assert sorted(store.all()) == ["a", "c", "d"]


def test_expired_sessions_are_removed_without_being_read():
    store = MemoryStore()
    for index in range(50):
        store.set(f"old{index}", stored_session({}, max_age=1))
    time.sleep(0.01)
    store.set("fresh", stored_session({}))  # any write sweeps what has expired
    assert len(store._entries) == 1


def test_browser_session_entries_expire_after_a_day_or_ttl():
    store = MemoryStore.from_options({"ttl": 5})
    store.set("a", stored_session({}, max_age=None))
    time.sleep(0.01)
    assert store.get("a") is None
    assert (
        MemoryStore()._expires_at(stored_session({}, max_age=None))
        > time.time() * 1000 + 86_000_000
    )


def test_touch_replaces_only_the_cookie():
    store = MemoryStore()
    store.set("a", stored_session({"v": 1}, max_age=1000))
    newer = stored_session({"v": "ignored"}, max_age=60_000)
    store.touch("a", newer)
    assert store.get("a") == {"cookie": newer["cookie"], "v": 1}


def test_touch_never_recreates():
    store = MemoryStore()
    store.touch("gone", stored_session({}))
    assert store.get("gone") is None


def test_create_never_overwrites():
    store = MemoryStore()
    store.create("a", stored_session({"v": 1}))
    with pytest.raises(CreateError):
        store.create("a", stored_session({"v": 2}))
    assert store.get("a")["v"] == 1


def test_prune_counts_and_dry_run_deletes_nothing(session_clock):
    store = MemoryStore()
    store.set("new", stored_session({}, max_age=3_600_000))
    store.set("old", stored_session({}, max_age=60_000))
    session_clock.advance(120_000)  # "old" is past its time; no write swept it yet
    assert store.prune(dry_run=True) == 1 and "old" in store._entries
    assert store.prune() == 1 and store.length() == 1


def test_concurrent_updates_from_threads_lose_nothing():
    store = MemoryStore()
    store.set("s", stored_session({}))
    barrier = threading.Barrier(20)

    def add(index):
        barrier.wait()
        cookie = stored_session({})["cookie"]
        merge(store, "s", Changes(cookie, {f"k{index}": index}))

    threads = [threading.Thread(target=add, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {f"k{i}" for i in range(20)} <= set(store.get("s"))


def test_periodic_sweep_with_check_period():
    store = MemoryStore.from_options({"checkPeriod": 20})
    try:
        store.set("old", stored_session({}, max_age=1))
        time.sleep(0.2)
        assert "old" not in store._entries
    finally:
        store.close()
