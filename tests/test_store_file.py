"""The file store, in session-file-store's layout, checked against the real Node store."""

import json
import os
import time

import pytest

from django_express_session.exceptions import CreateError, InvalidSessionId
from django_express_session.record import Changes, now_ms
from django_express_session.stores.file import FileStore
from tests.helpers import merge, stored_session
from tests.node import store_call

SESSION = {
    "cookie": {
        "originalMaxAge": 3600000,
        "expires": "2026-11-22T04:26:19.106Z",
        "secure": False,
        "httpOnly": True,
        "domain": "example.test",
        "path": "/",
        "sameSite": "lax",
    },
    "views": 1,
    "name": "Zoë",
}


@pytest.fixture
def store(tmp_path):
    return FileStore.from_options({"path": tmp_path, "reapInterval": -1})


def test_layout_is_session_file_stores(store, tmp_path):
    store.set("abc", SESSION)
    text = (tmp_path / "abc.json").read_text()
    assert not text.endswith("\n")
    written = json.loads(text)
    assert list(written) == ["cookie", "views", "name", "__lastAccess"]
    assert abs(written["__lastAccess"] - now_ms()) < 5000


def test_same_bytes_as_session_file_store(store, tmp_path):
    node_dir = tmp_path / "node"
    store_call("file", {"path": str(node_dir)}, {"op": "set", "sid": "abc", "session": SESSION})
    store.set("abc", SESSION)
    node = json.loads((node_dir / "abc.json").read_bytes())
    ours = json.loads((tmp_path / "abc.json").read_bytes())
    assert abs(node.pop("__lastAccess") - ours.pop("__lastAccess")) < 5000
    assert (node_dir / "abc.json").read_bytes().split(b',"__lastAccess"')[0] == (
        tmp_path / "abc.json"
    ).read_bytes().split(b',"__lastAccess"')[0]


def test_each_side_reads_what_the_other_wrote(store, tmp_path):
    fresh = stored_session({"from": "django"})
    store.set("fromdjango", fresh)
    node_read = store_call("file", {"path": str(tmp_path)}, {"op": "get", "sid": "fromdjango"})[0]
    assert node_read["from"] == "django" and node_read["cookie"] == fresh["cookie"]

    store_call(
        "file",
        {"path": str(tmp_path)},
        {"op": "set", "sid": "fromnode", "session": stored_session({"passport": {"user": 1}})},
    )
    assert store.get("fromnode")["passport"] == {"user": 1}


def test_expiry_follows_last_access_and_original_max_age(store, tmp_path):
    record = {**stored_session({}, max_age=1000), "__lastAccess": now_ms() - 2000}
    (tmp_path / "old.json").write_text(json.dumps(record))
    assert store.get("old") is None
    browser = {**stored_session({}, max_age=None), "__lastAccess": now_ms() - 3_000_000}
    (tmp_path / "browser.json").write_text(json.dumps(browser))
    assert store.get("browser") is not None  # ttl 3600 s is the fallback
    assert FileStore.from_options({"path": tmp_path, "ttl": 60}).get("browser") is None


@pytest.mark.parametrize("sid", ["../escape", "a/b", "a\x00b", ".", "..", ".hidden", ""])
def test_unsafe_ids_never_reach_the_disk(store, tmp_path, sid):
    assert store.get(sid) is None
    with pytest.raises(InvalidSessionId):
        store.set(sid, SESSION)
    store.destroy(sid)
    assert not (tmp_path.parent / "escape.json").exists()


def test_create_never_overwrites(store):
    store.create("a", stored_session({"v": 1}))
    with pytest.raises(CreateError):
        store.create("a", stored_session({"v": 2}))
    assert store.get("a")["v"] == 1


def test_update_merges_onto_what_another_writer_stored(store):
    store.create("a", stored_session({"mine": 1}))
    known = store.read("a")
    store.set("a", {**store.get("a"), "theirs": 2})  # a concurrent writer
    merged = merge(store, "a", Changes(known.record["cookie"], {"mine": 3}), known)
    assert merged["mine"] == 3 and merged["theirs"] == 2
    assert store.get("a")["theirs"] == 2


def test_touch_rewrites_cookie_and_last_access_but_not_a_missing_file(store, tmp_path):
    store.set("a", {**stored_session({"v": 1}, max_age=1000)})
    before = store.get("a")["__lastAccess"]
    time.sleep(0.01)
    newer = stored_session({}, max_age=60_000)
    store.touch("a", newer)
    after = store.get("a")
    assert after["cookie"] == newer["cookie"] and after["v"] == 1 and after["__lastAccess"] > before
    store.touch("missing", newer)
    assert not (tmp_path / "missing.json").exists()


def test_prune_opens_only_files_whose_time_has_passed(store, tmp_path, monkeypatch):
    for index in range(20):
        store.set(f"live{index}", stored_session({}))
    store.set("expired", stored_session({}, max_age=1))
    time.sleep(0.01)
    opened = []
    original = store._expired_on_disk
    monkeypatch.setattr(store, "_expired_on_disk", lambda sid: opened.append(sid) or original(sid))
    assert store.prune(dry_run=True) == 1 and (tmp_path / "expired.json").exists()
    assert store.prune() == 1
    assert opened == ["expired", "expired"]
    assert store.length() == 20


def test_temporary_files_are_ignored_by_node_and_by_listing(store, tmp_path):
    store.set("a", SESSION)
    assert [name for name in os.listdir(tmp_path) if name.endswith(".tmp")] == []
    (tmp_path / ".a.1.2.tmp").write_text("{}")
    assert store.length() == 1
