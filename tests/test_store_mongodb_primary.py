"""The mongodb store reads on the primary whatever ``readPreference`` the URI or the
client gives: a lagging secondary would log a user out or fail a compare-and-set.
(The test server is a standalone, where every read reaches the one server: these tests
check the read preference the store's collections carry, which is what pymongo's
server selection follows on a replica set.)"""

from __future__ import annotations

import asyncio

import pytest
from pymongo import MongoClient, ReadPreference

from django_express_session.stores.mongodb import MongoStore
from tests.helpers import stored_session

SECONDARY_READS = ["secondaryPreferred", "secondary", "nearest"]


def with_read_preference(uri: str, mode: str) -> str:
    return f"{uri}{'&' if '?' in uri else '?'}readPreference={mode}"


@pytest.mark.parametrize("mode", SECONDARY_READS)
def test_a_uri_asking_for_secondaries_still_reads_the_primary(mongo_uri, mongo_db_name, mode):
    url = with_read_preference(mongo_uri, mode)
    store = MongoStore.from_options({"mongoUrl": url, "dbName": mongo_db_name})
    session = stored_session({"views": 1})
    store.set("abc", session)
    assert store.get("abc") == session
    assert store._collection().read_preference == ReadPreference.PRIMARY
    assert store._policies().read_preference == ReadPreference.PRIMARY
    assert store._collection().database.client.read_preference.mongos_mode == mode

    async def read_with_asyncio():
        assert (await store.aread("abc")).record == session
        return (await store._acollection()).read_preference

    assert asyncio.run(read_with_asyncio()) == ReadPreference.PRIMARY
    store.close()


def test_a_client_asking_for_secondaries_still_reads_the_primary(mongo_uri, mongo_db_name):
    client = MongoClient(mongo_uri, readPreference="secondaryPreferred")
    store = MongoStore.from_options({"client": client, "dbName": mongo_db_name})
    store.set("abc", stored_session({}))
    assert store._collection().read_preference == ReadPreference.PRIMARY
    store.close()
    client.close()
