"""A user's sessions on the mongodb store (mongoeco's wire server, or ``MONGO_URI``):
indexed fields with ``stringify: false``, a prefiltered scan of the JSON strings with
``stringify: true``, sync and native async, and documents the real connect-mongo wrote."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

import pytest

from django_express_session.owner import Owner
from django_express_session.stores.mongodb import MongoStore
from tests.helpers import stored_session
from tests.test_store_mongodb import node_store

HOUR_MS = 3_600_000
ALICE = Owner("1", "alice")
BOB = Owner("2", "bob")


@pytest.fixture(params=[True, False], ids=["stringify", "object"])
def stringify(request) -> bool:
    return request.param


@pytest.fixture
def store(store_mongodb, stringify):
    store = MongoStore.from_options({**store_mongodb["options"], "stringify": stringify})
    yield store
    store.close()


@pytest.fixture
def sessions(mongo_client, mongo_db_name):
    return mongo_client[mongo_db_name]["sessions"]


def login(data: dict) -> dict:
    return stored_session(data, max_age=HOUR_MS)


@pytest.fixture
def logins(store) -> dict[str, dict]:
    made = {
        "alice-laptop": login({"_auth_user_id": "1"}),
        "alice-phone": login({"_auth_user_id": "1", "passport": {"user": "alice"}}),
        "alice-express": login({"passport": {"user": "alice"}}),
        # Substrings of Alice's keys, which the prefilter lets through and the check drops.
        "lookalike": login({"_auth_user_id": "11", "note": '"_auth_user_id":"1"'}),
        "bob": login({"_auth_user_id": "2", "passport": {"user": "bob"}}),
        "anonymous": login({"views": 1}),
    }
    for sid, record in made.items():
        store.create(sid, record)
    return made


def test_sessions_of_finds_the_user_by_either_key_and_no_one_else(store, logins):
    alice = {sid: logins[sid] for sid in ("alice-laptop", "alice-phone", "alice-express")}
    assert store.sessions_of(ALICE) == alice
    assert set(store.sessions_of(Owner("1"))) == {"alice-laptop", "alice-phone"}
    assert set(store.sessions_of(Owner(None, "alice"))) == {"alice-phone", "alice-express"}
    assert set(store.sessions_of(BOB)) == {"bob"}
    assert store.sessions_of(Owner("3", "carol")) == {}
    assert store.sessions_of(Owner(None)) == {}


def test_asessions_of_agrees(store, logins):
    assert asyncio.run(store.asessions_of(ALICE)) == store.sessions_of(ALICE)
    assert asyncio.run(store.asessions_of(BOB, thorough=True)) == store.sessions_of(BOB)


def test_an_expired_document_the_ttl_monitor_has_not_removed_is_not_listed(store, sessions, logins):
    past = datetime.now(timezone.utc) - timedelta(minutes=1)
    sessions.update_one({"_id": "alice-laptop"}, {"$set": {"expires": past}})
    assert set(store.sessions_of(ALICE)) == {"alice-phone", "alice-express"}


def test_a_passport_user_that_is_a_number_or_an_object(store):
    store.create("by-number", login({"passport": {"user": 7}}))
    store.create("by-seventy", login({"passport": {"user": 70}}))
    store.create("by-object", login({"passport": {"user": {"id": 7, "kind": "staff"}}}))
    store.create("by-true", login({"passport": {"user": True}}))
    assert set(store.sessions_of(Owner(None, 7))) == {"by-number"}
    assert set(store.sessions_of(Owner(None, {"id": 7, "kind": "staff"}))) == {"by-object"}
    assert store.sessions_of(Owner(None, True)) == {}


def test_a_value_that_looks_like_a_query_operator_is_only_a_value(store, logins):
    assert store.sessions_of(Owner(None, {"$ne": None})) == {}
    assert store.sessions_of(Owner(".*")) == {}


def test_with_stringify_false_the_user_fields_are_indexed(store, stringify, sessions):
    store.create("s", login({"_auth_user_id": "1"}))
    store.sessions_of(ALICE)
    keys = {tuple(index["key"]) for index in sessions.list_indexes()}
    user_indexes = {("session._auth_user_id",), ("session.passport.user",)}
    assert (user_indexes <= keys) is not stringify
    assert asyncio.run(store.asessions_of(ALICE)) == {"s": store.get("s")}


def test_an_index_the_project_made_on_the_same_field_serves(store_mongodb, sessions):
    sessions.create_index([("session._auth_user_id", 1)], name="mine")
    store = MongoStore.from_options({**store_mongodb["options"], "stringify": False})
    store.create("s", login({"_auth_user_id": "1"}))
    assert set(store.sessions_of(ALICE)) == {"s"}
    names = sorted(index["name"] for index in sessions.list_indexes())
    assert names == ["_id_", "expires_1", "mine", "session.passport.user_1"]
    store.close()


def test_the_first_async_search_creates_the_indexes_too(store_mongodb, sessions):
    store = MongoStore.from_options({**store_mongodb["options"], "stringify": False})
    asyncio.run(store.acreate("s", login({"passport": {"user": "alice"}})))
    assert set(asyncio.run(store.asessions_of(ALICE))) == {"s"}
    keys = {tuple(index["key"]) for index in sessions.list_indexes()}
    assert {("session._auth_user_id",), ("session.passport.user",)} <= keys
    store.close()


def test_reindex_has_nothing_to_repair(store):
    assert store.reindex() is None


def test_a_thorough_search_also_finds_strings_a_differently_configured_app_wrote(
    store_mongodb, sessions
):
    as_string = MongoStore.from_options({**store_mongodb["options"], "stringify": True})
    as_object = MongoStore.from_options({**store_mongodb["options"], "stringify": False})
    as_string.create("string", login({"_auth_user_id": "1"}))
    as_object.create("object", login({"_auth_user_id": "1"}))
    assert set(as_object.sessions_of(ALICE)) == {"object"}
    assert set(as_object.sessions_of(ALICE, thorough=True)) == {"object", "string"}
    assert set(as_string.sessions_of(ALICE)) == {"string"}
    as_string.close()
    as_object.close()


@pytest.mark.interop
def test_sessions_connect_mongo_wrote_are_found(store, stringify, mongo_uri, mongo_db_name):
    options = {"dbName": mongo_db_name, "stringify": stringify}
    node_store(
        mongo_uri,
        options,
        [
            {"op": "set", "sid": "node-alice", "session": login({"passport": {"user": "alice"}})},
            {"op": "set", "sid": "node-bob", "session": login({"passport": {"user": "bob"}})},
        ],
    )
    assert set(store.sessions_of(ALICE)) == {"node-alice"}
    assert set(asyncio.run(store.asessions_of(BOB))) == {"node-bob"}


def test_a_stored_string_is_found_however_its_json_was_spaced_or_escaped(store_mongodb, sessions):
    as_string = MongoStore.from_options({**store_mongodb["options"], "stringify": True})
    record = login({"passport": {"user": "josé"}})
    expires = datetime.now(timezone.utc) + timedelta(hours=1)
    sessions.insert_one({"_id": "spaced", "session": json.dumps(record), "expires": expires})
    assert set(as_string.sessions_of(Owner(None, "josé"), thorough=True)) == {"spaced"}
    as_string.close()
