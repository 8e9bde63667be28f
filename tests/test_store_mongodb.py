"""The mongodb store against a MongoDB server (mongoeco's wire server, or ``MONGO_URI``):
connect-mongo's document layout, the TTL index, touch and ``touchAfter``, the safe
writes, clean-up, the options, outages, native async, and byte-level agreement with
the real connect-mongo 6 package."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from asgiref.sync import async_to_sync
from bson import encode
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from django.core.exceptions import ImproperlyConfigured
from django.test import AsyncClient, Client
from pymongo import MongoClient

from django_express_session import conf
from django_express_session.exceptions import CorruptRecord, CreateError, UpdateError
from django_express_session.record import Changes, dumps, format_js_date
from django_express_session.stores.mongodb import MongoStore
from tests.helpers import amerge, merge, stored_session, use_express_session
from tests.servers.mongodb import ROOT, mongoeco_server, mongoeco_uri
from tests.servers.process import require

HOUR = timedelta(hours=1)
FOURTEEN_DAYS = timedelta(seconds=1209600)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_date(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def make_store(store_mongodb):
    """Build a store on this test's database, with extra options."""
    stores = []

    def make(**options) -> MongoStore:
        store = MongoStore.from_options({**store_mongodb["options"], **options})
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def store(make_store) -> MongoStore:
    return make_store()


@pytest.fixture
def sessions(mongo_client, mongo_db_name):
    """The ``sessions`` collection, read directly."""
    return mongo_client[mongo_db_name]["sessions"]


def full_session(data: dict | None = None) -> dict:
    """A record as express writes it for ``{maxAge: 3600000, sameSite: "lax",
    secure: false, domain: "example.test"}``."""
    session = stored_session(data or {}, max_age=3_600_000)
    session["cookie"] = {
        "originalMaxAge": 3_600_000,
        "expires": session["cookie"]["expires"],
        "secure": False,
        "httpOnly": True,
        "domain": "example.test",
        "path": "/",
        "sameSite": "lax",
    }
    return session


# -- layout ---------------------------------------------------------------------------


def test_a_session_is_a_document_with_the_json_string_and_the_cookie_expiry(store, sessions):
    session = full_session({"views": 1, "name": "Zoë"})
    store.set("abc", session)
    document = sessions.find_one({"_id": "abc"})
    assert list(document) == ["_id", "expires", "session"]  # as MongoDB orders an upsert
    assert document["session"] == dumps(session)
    assert document["expires"] == as_date(session["cookie"]["expires"])


def test_a_browser_session_cookie_expires_after_the_ttl_option(make_store, sessions):
    before = utcnow().replace(microsecond=0)
    make_store().set("fourteen", stored_session({}, max_age=None))
    make_store(ttl=60).set("minute", stored_session({}, max_age=None))
    after = utcnow() + timedelta(milliseconds=1)
    fourteen = sessions.find_one({"_id": "fourteen"})["expires"]
    minute = sessions.find_one({"_id": "minute"})["expires"]
    assert before + FOURTEEN_DAYS <= fourteen <= after + FOURTEEN_DAYS
    assert before + timedelta(seconds=60) <= minute <= after + timedelta(seconds=60)


def test_stringify_false_stores_a_sub_document_as_connect_mongo(make_store, sessions):
    session = full_session({"views": 1, "long": 2_592_000_000, "ratio": 0.5})
    store = make_store(stringify=False)
    store.set("abc", session)
    stored = sessions.find_one({"_id": "abc"})["session"]
    # Cookie#toJSON's nine keys, undefined ones null, expires a date; big numbers doubles.
    assert stored == {
        "cookie": {
            "originalMaxAge": 3_600_000,
            "partitioned": None,
            "priority": None,
            "expires": as_date(session["cookie"]["expires"]),
            "secure": False,
            "httpOnly": True,
            "domain": "example.test",
            "path": "/",
            "sameSite": "lax",
        },
        "views": 1,
        "long": 2_592_000_000,
        "ratio": 0.5,
    }
    assert isinstance(stored["long"], float)
    assert store.get("abc") == session


def test_either_form_reads_what_the_other_wrote(make_store):
    session = full_session({"views": 1})
    make_store(stringify=False).set("object", session)
    make_store().set("string", session)
    assert make_store().get("object") == session
    assert make_store(stringify=False).get("string") == session


def test_collection_and_database_names(make_store, mongo_client, mongo_db_name):
    make_store(collectionName="express_sessions").set("abc", stored_session({}))
    assert mongo_client[mongo_db_name]["express_sessions"].count_documents({}) == 1


def test_the_database_defaults_to_the_one_in_the_uri_then_test(mongo_uri, mongo_client):
    base, _, query = mongo_uri.partition("?")
    name = "express_session_test_uri_db"
    store = MongoStore.from_options({"mongoUrl": f"{base.rstrip('/')}/{name}?{query}"})
    try:
        store.set("abc", stored_session({}))
        assert mongo_client[name]["sessions"].find_one({"_id": "abc"}) is not None
    finally:
        store.close()
        mongo_client.drop_database(name)


# -- the TTL index --------------------------------------------------------------------


def ttl_indexes(collection) -> list[dict]:
    return [dict(index) for index in collection.list_indexes() if list(index["key"]) == ["expires"]]


def test_native_auto_remove_creates_the_ttl_index_once(make_store, sessions):
    store = make_store()
    store.set("abc", stored_session({}))
    [index] = ttl_indexes(sessions)
    assert index["name"] == "expires_1"
    assert index["expireAfterSeconds"] == 0
    sessions.drop_indexes()
    store.set("def", stored_session({}))
    asyncio.run(store.aset("ghi", stored_session({})))
    assert ttl_indexes(sessions) == []  # the same store object does not ask again


def test_the_first_use_may_be_async(make_store, sessions):
    store = make_store()
    asyncio.run(store.aset("abc", stored_session({})))
    [index] = ttl_indexes(sessions)
    assert index["expireAfterSeconds"] == 0
    sessions.drop_indexes()
    store.set("def", stored_session({}))
    assert ttl_indexes(sessions) == []


def test_an_existing_compatible_index_is_accepted(make_store, sessions):
    sessions.create_index([("expires", 1)], expireAfterSeconds=0)
    store = make_store()
    store.set("abc", stored_session({}))
    assert store.get("abc") is not None


def test_a_conflicting_index_is_a_clear_error(make_store, sessions):
    sessions.create_index([("expires", 1)], expireAfterSeconds=3600)
    with pytest.raises(ImproperlyConfigured, match=r"expireAfterSeconds 0.*autoRemove"):
        make_store().get("abc")


@pytest.mark.parametrize("auto_remove", ["interval", "disabled"])
def test_other_auto_remove_modes_create_no_index(make_store, sessions, auto_remove):
    make_store(autoRemove=auto_remove).set("abc", stored_session({}))
    assert ttl_indexes(sessions) == []


# -- reads ----------------------------------------------------------------------------


def test_get_returns_what_was_set_and_none_when_missing(store):
    session = full_session({"views": 1, "nested": {"a": [1, "two", None]}})
    store.set("abc", session)
    assert store.get("abc") == session
    assert store.get("missing") is None


def test_reads_ignore_an_expired_document_the_ttl_monitor_has_not_removed(make_store, sessions):
    # No TTL index (autoRemove disabled): the document surely stays; reads must skip it.
    store = make_store(autoRemove="disabled")
    session = stored_session({"views": 1})
    sessions.insert_one(
        {"_id": "old", "session": dumps(session), "expires": utcnow() - timedelta(seconds=1)}
    )
    assert store.get("old") is None
    assert store.read("old") is None
    assert store.all() == {}
    assert store.length() == 0


def test_a_document_without_expires_is_live_as_in_connect_mongo(store, sessions):
    session = stored_session({"views": 1})
    sessions.insert_one({"_id": "forever", "session": dumps(session)})
    assert store.get("forever") == session


@pytest.mark.parametrize("stored", ["not json", "[]", '{"views": 1}', 42, ["a"]])
def test_a_corrupt_session_is_an_error_not_an_empty_session(store, sessions, stored):
    sessions.insert_one({"_id": "bad", "session": stored, "expires": utcnow() + HOUR})
    with pytest.raises(CorruptRecord):
        store.read("bad")


# -- touch ----------------------------------------------------------------------------


def test_touch_moves_only_the_document_expiry(store, sessions):
    session = full_session({"views": 1})
    store.set("abc", session)
    later = utcnow() + timedelta(hours=2)
    touched = {**session, "cookie": {**session["cookie"], "expires": format_js_date(later)}}
    store.touch("abc", touched)
    document = sessions.find_one({"_id": "abc"})
    assert document["session"] == dumps(session)  # the inner expires stays stale, as in Node
    assert document["expires"] == later.replace(microsecond=later.microsecond // 1000 * 1000)


def test_touch_of_a_missing_session_is_no_error_and_creates_nothing(store, sessions):
    store.touch("gone", full_session({}))
    assert sessions.count_documents({}) == 0


def test_touch_after_skips_touches_inside_the_window(make_store, sessions):
    store = make_store(touchAfter=3600)
    store.set("abc", full_session({"views": 1}))
    written = sessions.find_one({"_id": "abc"})
    loaded = store.get("abc")
    assert loaded["lastModified"] == format_js_date(written["lastModified"])
    store.touch("abc", {**loaded, "cookie": {**loaded["cookie"], "expires": None}})
    assert sessions.find_one({"_id": "abc"}) == written


def test_touch_after_touches_once_the_window_passed(make_store, sessions):
    store = make_store(touchAfter=60)
    session = full_session({"views": 1})
    store.set("abc", session)
    loaded = store.get("abc")
    loaded["lastModified"] = format_js_date(utcnow() - timedelta(seconds=61))
    store.touch("abc", loaded)
    document = sessions.find_one({"_id": "abc"})
    assert document["lastModified"] > utcnow() - timedelta(seconds=10)
    assert document["expires"] == as_date(loaded["cookie"]["expires"])


def test_set_takes_back_the_last_modified_that_get_lent(make_store, sessions):
    store = make_store(touchAfter=60)
    store.set("abc", full_session({"views": 1}))
    loaded = store.get("abc")
    store.set("abc", {**loaded, "views": 2})
    assert "lastModified" not in json.loads(sessions.find_one({"_id": "abc"})["session"])


# -- safe writes ----------------------------------------------------------------------


def test_create_never_overwrites(store):
    store.create("abc", full_session({"views": 1}))
    with pytest.raises(CreateError):
        store.create("abc", full_session({"views": 2}))
    assert store.get("abc")["views"] == 1


def test_create_takes_the_id_of_an_expired_document(make_store, sessions):
    store = make_store(autoRemove="disabled")
    sessions.insert_one({"_id": "abc", "session": "{}", "expires": utcnow() - HOUR})
    session = full_session({"views": 1})
    store.create("abc", session)
    assert store.get("abc") == session


@pytest.mark.parametrize("stringify", [True, False])
def test_replace_is_a_compare_and_set_on_the_stored_session(make_store, stringify):
    store = make_store(stringify=stringify)
    session = full_session({"views": 1})
    store.create("abc", session)
    known = store.read("abc")
    assert store.replace("abc", {**session, "views": 2}, known.version)
    assert not store.replace("abc", {**session, "views": 3}, known.version)
    assert store.get("abc")["views"] == 2


def test_replace_never_resurrects_a_destroyed_session(store, sessions):
    session = full_session({"views": 1})
    store.create("abc", session)
    known = store.read("abc")
    store.destroy("abc")
    assert not store.replace("abc", session, known.version)
    assert sessions.count_documents({}) == 0


def test_update_of_a_destroyed_session_raises_update_error(store):
    session = full_session({"views": 1})
    store.create("abc", session)
    store.destroy("abc")
    with pytest.raises(UpdateError):
        merge(store, "abc", Changes(cookie=session["cookie"], assigned={"views": 2}))


@pytest.mark.parametrize("stringify", [True, False])
def test_concurrent_updates_lose_nothing(make_store, stringify):
    store = make_store(stringify=stringify)
    session = full_session({})
    store.create("abc", session)

    def add(key: str) -> None:
        for round_ in range(5):
            merge(store, "abc", Changes(cookie=session["cookie"], assigned={f"{key}{round_}": 1}))

    threads = [threading.Thread(target=add, args=(name,)) for name in "abcd"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(store.get("abc")) == sorted(
        ["cookie", *(f"{key}{n}" for key in "abcd" for n in range(5))]
    )


# -- bulk methods and clean-up --------------------------------------------------------


def test_all_length_destroy_and_clear(store):
    one, two = full_session({"n": 1}), full_session({"n": 2})
    store.set("one", one)
    store.set("two", two)
    assert store.all() == {"one": one, "two": two}
    assert store.length() == 2
    store.destroy("one")
    assert store.length() == 1
    store.clear()
    assert store.length() == 0


def test_prune_leaves_native_removal_to_mongodb(store):
    assert store.prune() is None


@pytest.mark.parametrize("auto_remove", ["interval", "disabled"])
def test_prune_deletes_expired_documents_in_batches(make_store, sessions, auto_remove, monkeypatch):
    monkeypatch.setattr("django_express_session.stores.mongodb.PRUNE_BATCH", 3)
    store = make_store(autoRemove=auto_remove)
    past = utcnow() - HOUR
    sessions.insert_many([{"_id": f"old{n}", "session": "{}", "expires": past} for n in range(7)])
    store.set("live", full_session({}))
    assert store.prune(dry_run=True) == 7
    assert sessions.count_documents({}) == 8
    seen = []
    assert store.prune(progress=seen.append) == 7
    assert seen == [3, 6, 7]
    assert [document["_id"] for document in sessions.find()] == ["live"]


def test_interval_auto_remove_prunes_in_the_background_from_first_use_until_close(
    make_store, sessions
):
    store = make_store(autoRemove="interval")
    store._pruner.interval = 0.05  # autoRemoveInterval is in minutes
    sessions.insert_one({"_id": "old", "session": "{}", "expires": utcnow() - HOUR})
    time.sleep(0.2)
    assert sessions.count_documents({}) == 1, "nothing runs before the store is used"
    store.set("live", full_session({}))
    deadline = time.monotonic() + 10
    while sessions.find_one({"_id": "old"}) is not None:
        assert time.monotonic() < deadline, "the expired document was never removed"
        time.sleep(0.05)
    store.close()
    assert not [thread for thread in threading.enumerate() if "mongodb" in thread.name]
    assert [document["_id"] for document in sessions.find()] == ["live"]


# -- native async ---------------------------------------------------------------------


def test_the_async_twins_share_the_documents_of_the_sync_ones(store, sessions):
    session = full_session({"views": 1})

    async def use() -> None:
        await store.acreate("abc", session)
        with pytest.raises(CreateError):
            await store.acreate("abc", session)
        known = await store.aread("abc")
        assert known.record == session
        assert await store.areplace("abc", {**session, "views": 2}, known.version)
        assert not await store.areplace("abc", session, known.version)
        merged = await amerge(store, "abc", Changes(cookie=session["cookie"], assigned={"x": 1}))
        assert merged["x"] == 1
        await store.atouch("gone", session)
        await store.aset("def", session)
        assert await store.aget("def") == session
        await store.adestroy("def")
        assert await store.aget("def") is None
        assert len(store._loops) == 1  # the calls went through an AsyncMongoClient

    asyncio.run(use())
    assert store.get("abc") == {**session, "views": 2, "x": 1}
    assert sessions.count_documents({}) == 1


def test_every_event_loop_gets_a_client_of_its_own_closed_with_the_loop(store):
    # asyncio.run in a test, async_to_sync's loop in a worker thread, an ASGI server's:
    # each is served natively, and a loop that ends takes its client with it.
    clients = []

    async def use(sid: str) -> None:
        await store.acreate(sid, full_session({"sid": sid}))
        assert (await store.aread(sid)).record["sid"] == sid
        clients.append(store._loops[asyncio.get_running_loop()].database.client)

    asyncio.run(use("first"))
    asyncio.run(use("second"))
    async_to_sync(use)("from-async-to-sync")
    thread = threading.Thread(target=asyncio.run, args=(use("in-a-thread"),))
    thread.start()
    thread.join()
    assert len({id(client) for client in clients}) == 4
    assert len(store._loops) == 0, "each client was closed and dropped with its loop"
    assert store.length() == 4


def refuse(name: str):
    def called(*args, **kwargs):
        raise AssertionError(f"the sync {name}() ran during an async request")

    return called


def recording(name: str, method, calls: list):
    """``method``, noting its name and the thread that runs it in ``calls``."""

    def recorded(*args, **kwargs):
        calls.append((name, threading.current_thread()))
        return method(*args, **kwargs)

    return recorded


def test_an_async_request_runs_every_store_call_on_the_event_loop(
    settings, store_mongodb, monkeypatch
):
    use_express_session(settings, store=store_mongodb)
    store = conf.get_store()
    for name in ("read", "create", "replace", "destroy", "touch", "_collection"):
        monkeypatch.setattr(store, name, refuse(name))
    calls: list[tuple[str, threading.Thread]] = []
    for name in ("aread", "acreate", "areplace", "adestroy", "atouch"):
        monkeypatch.setattr(store, name, recording(name, getattr(store, name), calls))

    async def browse() -> threading.Thread:
        client = AsyncClient()
        assert (await client.get("/async-set?v=hello")).status_code == 200
        read = await client.get("/async-read")
        assert read.json()["data"]["v"] == "hello"
        regenerated = await client.get("/async-regenerate")
        assert regenerated.content.decode() != read.json()["id"]
        return threading.current_thread()

    loop_thread = asyncio.run(browse())
    assert {"acreate", "aread", "adestroy"} <= {name for name, _ in calls}
    assert {thread for _, thread in calls} == {loop_thread}, "no store call in a worker thread"
    assert not store._sync.ready, "the sync client was never opened"


# -- options and connection forms -----------------------------------------------------


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({}, "mongoUrl"),
        ({"mongoUrl": "mongodb://x", "client": "a.b"}, "mongoUrl"),
        ({"client": 42}, "client"),
        ({"mongoUrl": "http://localhost"}, "mongoUrl"),
        ({"mongoUrl": "mongodb://x", "ttl": "14d"}, "ttl"),
        ({"mongoUrl": "mongodb://x", "autoRemove": "always"}, "autoRemove"),
        ({"mongoUrl": "mongodb://x", "autoRemoveInterval": 71583}, "autoRemoveInterval"),
        ({"mongoUrl": "mongodb://x", "touchAfter": -1}, "touchAfter"),
        ({"mongoUrl": "mongodb://x", "stringify": "no"}, "stringify"),
        ({"mongoUrl": "mongodb://x", "collectionName": ""}, "collectionName"),
        ({"mongoUrl": "mongodb://x", "mongoOptions": "x"}, "mongoOptions"),
        ({"mongoUrl": "mongodb://x", "writeOperationOptions": {"x": 1}}, "writeOperationOptions"),
        ({"mongoUrl": "mongodb://x", "crypto": {"secret": "s3cr3t"}}, "crypto"),
        ({"mongoUrl": "mongodb://x", "transformId": "f"}, "transformId"),
    ],
)
def test_a_bad_option_names_its_key(options, key):
    with pytest.raises(ImproperlyConfigured, match=rf"\[{key!r}\]"):
        MongoStore.from_options(options)


def test_crypto_switched_off_and_a_write_concern_are_accepted(make_store):
    store = make_store(crypto={"secret": False}, writeOperationOptions={"w": 1, "j": False})
    store.set("abc", full_session({}))
    assert store.get("abc") is not None


def test_building_the_store_opens_no_connection():
    store = MongoStore.from_options(
        {"mongoUrl": "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=200"}
    )
    assert not store._sync.ready
    with pytest.raises(MongoStore.connection_errors):
        store.read("abc")
    store.close()


CLIENT = {}


def client_factory() -> MongoClient:
    return CLIENT["client"]


@pytest.mark.parametrize("form", ["object", "dotted path"])
def test_a_client_object_or_factory(mongo_uri, mongo_db_name, sessions, form):
    client = CLIENT["client"] = MongoClient(mongo_uri)
    given = client if form == "object" else "tests.test_store_mongodb.client_factory"
    store = MongoStore.from_options({"client": given, "dbName": mongo_db_name})
    session = full_session({})
    store.set("abc", session)
    # A sync client has no asyncio twin: async requests run its calls in a thread.
    assert not store.native_async
    assert asyncio.run(store.aread("abc")).record == session
    store.close()
    assert sessions.count_documents({}) == 1
    client.admin.command("ping")  # a client the project owns is left open
    client.close()


def test_a_dotted_path_to_something_else_is_refused_at_first_use():
    store = MongoStore.from_options({"client": "tests.test_store_mongodb.HOUR"})
    with pytest.raises(ImproperlyConfigured, match=r"\['client'\]"):
        store.get("abc")


# -- outages --------------------------------------------------------------------------


@pytest.mark.slow
def test_an_outage_is_a_connection_error_and_the_store_recovers(tmp_path):
    server = mongoeco_server(tmp_path / "server.log").start()
    store = MongoStore.from_options({"mongoUrl": mongoeco_uri(server), "dbName": "outage"})
    try:
        store.set("abc", full_session({"views": 1}))
        known = store.read("abc")
        server.stop()
        with pytest.raises(MongoStore.connection_errors):
            store.read("abc")
        with pytest.raises(MongoStore.connection_errors):
            store.replace("abc", full_session({"views": 2}), known.version)
        server.start()  # same port, empty memory
        store.set("abc", full_session({"views": 3}))
        assert store.get("abc")["views"] == 3
    finally:
        store.close()
        server.stop()


def test_the_clients_fail_fast_unless_the_uri_or_mongo_options_say_otherwise():
    plain = MongoStore.from_options({"mongoUrl": "mongodb://db.test/app"})
    assert plain._client_options() == {
        "serverSelectionTimeoutMS": 800,
        "connectTimeoutMS": 800,
        "socketTimeoutMS": 800,
    }
    given = MongoStore.from_options(
        {
            "mongoUrl": "mongodb://db.test/app?connecttimeoutms=5000",
            "mongoOptions": {"socketTimeoutMS": 20000, "maxPoolSize": 5},
        }
    )
    assert given._client_options() == {
        "serverSelectionTimeoutMS": 800,
        "socketTimeoutMS": 20000,
        "maxPoolSize": 5,
    }


def timed(response):
    """The response of a request and the seconds it took (``response`` makes it)."""
    started = time.monotonic()
    return response(), time.monotonic() - started


async def atimed(response):
    started = time.monotonic()
    return await response(), time.monotonic() - started


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_with_mongodb_down_a_request_gets_its_503_within_the_stores_own_bound(
    settings, tmp_path, mode, caplog
):
    server = mongoeco_server(tmp_path / "server.log").start()
    use_express_session(
        settings,
        # No timeouts in the URI: the store's own defaults (pymongo's wait 30 s).
        store={"backend": "mongodb", "options": {"mongoUrl": mongoeco_uri(server)}},
    )

    def browse():
        client, newcomer = Client(), Client()
        assert client.get("/set?v=1").status_code == 200
        server.stop()
        return [timed(lambda: client.get("/read")), timed(lambda: newcomer.get("/set?v=2"))]

    async def abrowse():
        client, newcomer = AsyncClient(), AsyncClient()
        assert (await client.get("/async-set?v=1")).status_code == 200
        server.stop()
        return [
            await atimed(lambda: client.get("/async-read")),
            await atimed(lambda: newcomer.get("/async-set?v=2")),
        ]

    try:
        answers = browse() if mode == "sync" else asyncio.run(abrowse())
    finally:
        server.stop()
    failures = [r.getMessage() for r in caplog.records if "store unavailable" in r.msg]
    for (response, seconds), failure in zip(answers, failures, strict=True):
        assert response.status_code == 503
        assert b"the session store cannot be reached" in response.content
        # pymongo names the waits it applied: the store's 0.8 s, not its own 20-30 s.
        assert "socketTimeoutMS: 800.0ms, connectTimeoutMS: 800.0ms" in failure
        # About 1 s on an idle machine (pymongo checks the server every 0.5 s); the
        # wall-time bound is kept far from 30 s so a loaded CI machine cannot trip it.
        assert seconds < 5


# -- byte-level agreement with connect-mongo 6 (Node) ---------------------------------


def node_store(mongo_uri: str, options: dict, calls: list[dict]) -> list:
    """Run ``calls`` on a real connect-mongo 6 store (interop/node/stores/mongo.js)."""
    node = require("node")
    request = {"store": "mongo", "options": {"mongoUrl": mongo_uri, **options}, "calls": calls}
    done = subprocess.run(
        [node, "store-call.js", json.dumps(request)],
        cwd=ROOT / "interop" / "node",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def raw(collection, sid: str) -> bytes:
    codec = CodecOptions(document_class=RawBSONDocument)
    return collection.with_options(codec_options=codec).find_one({"_id": sid}).raw


def interop_session() -> dict:
    return full_session(
        {"views": 3, "user": {"name": "Zoë ✓", "roles": ["admin"]}, "ratio": 0.25,
         "long": 2_592_000_000, "none": None, "flag": True}
    )  # fmt: skip


@pytest.mark.interop
@pytest.mark.parametrize("stringify", [True, False])
def test_connect_mongo_and_django_write_the_same_document(
    make_store, mongo_uri, mongo_client, mongo_db_name, stringify
):
    session = interop_session()
    node_store(
        mongo_uri,
        {"dbName": mongo_db_name, "collectionName": "node", "stringify": stringify},
        [{"op": "set", "sid": "same-sid", "session": session}],
    )
    make_store(collectionName="django", stringify=stringify).set("same-sid", session)
    node = mongo_client[mongo_db_name]["node"].find_one({"_id": "same-sid"})
    django = mongo_client[mongo_db_name]["django"].find_one({"_id": "same-sid"})
    assert django["_id"] == node["_id"]
    assert django["session"] == node["session"]
    assert django["expires"] == node["expires"] == as_date(session["cookie"]["expires"])
    assert raw(mongo_client[mongo_db_name]["django"], "same-sid") == raw(
        mongo_client[mongo_db_name]["node"], "same-sid"
    )
    if stringify:
        assert django["session"] == dumps(session)


@pytest.mark.interop
@pytest.mark.parametrize("stringify", [True, False])
def test_each_reads_what_the_other_wrote(make_store, mongo_uri, mongo_db_name, stringify):
    options = {"dbName": mongo_db_name, "stringify": stringify}
    store = make_store(stringify=stringify)
    session = interop_session()
    store.create("from-django", session)
    own, from_django = node_store(
        mongo_uri, options, [{"op": "set", "sid": "from-node", "session": session},
                             {"op": "get", "sid": "from-node"},
                             {"op": "get", "sid": "from-django"}],
    )[1:]  # fmt: skip
    # Node sees Django's session exactly as its own (with stringify false, both carry the
    # cookie keys Node left undefined as null).
    assert from_django == own
    if stringify:
        assert from_django == session
    assert store.get("from-node") == session


@pytest.mark.interop
def test_a_connect_mongo_touch_of_a_django_session_moves_only_expires(
    store, mongo_uri, mongo_db_name, sessions
):
    session = interop_session()
    store.create("abc", session)
    later = format_js_date(utcnow() + timedelta(hours=3))
    touched = {**session, "cookie": {**session["cookie"], "expires": later}}
    node_store(
        mongo_uri, {"dbName": mongo_db_name}, [{"op": "touch", "sid": "abc", "session": touched}]
    )
    document = sessions.find_one({"_id": "abc"})
    assert document["session"] == dumps(session)
    assert document["expires"] == as_date(later)
    assert store.get("abc") == session


def test_the_stored_bytes_do_not_depend_on_python_dict_internals(store, sessions):
    # The document is what bson.encode makes of {_id, expires, session}, in that order.
    session = full_session({"views": 1})
    store.create("abc", session)
    expected = encode(
        {"_id": "abc", "expires": as_date(session["cookie"]["expires"]), "session": dumps(session)}
    )
    assert raw(sessions, "abc") == expected
