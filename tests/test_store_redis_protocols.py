"""The redis store over each protocol a client can be set to: redis-py's default
(since redis-py 8, RESP3 on the wire with answers shaped as RESP2's), RESP2, and RESP3
with its own answer shapes (``protocol=3``), through an alias and a client object,
sync and asyncio. (scripts/test also runs every Redis test under RESP2.)"""

from __future__ import annotations

import asyncio

import pytest
import redis

from django_express_session.owner import Owner
from django_express_session.record import dumps
from django_express_session.stores.redis import RedisStore
from tests.helpers import stored_session
from tests.servers.redis import CACHE_ALIAS, redis_url

HOUR_MS = 3_600_000
ALICE = Owner("1")


def exercise(store: RedisStore, raw) -> None:
    """Every primitive, the per-user index and the bulk methods, sync then asyncio,
    checked against the keys ``raw`` (a plain client of the same server) sees."""
    session = stored_session({"_auth_user_id": "1", "views": 1}, max_age=HOUR_MS)
    store.create("abc", session)
    assert raw.get("sess:abc") == dumps(session).encode()
    known = store.read("abc", touch=True)
    assert known.record == session and known.expires_at is not None
    assert store.replace("abc", {**session, "views": 2}, known.version)
    assert not store.replace("abc", {**session, "views": 3}, known.version)
    store.touch("abc", session)
    assert store.sessions_of(ALICE) == {"abc": {**session, "views": 2}}
    assert store.all() == {"abc": {**session, "views": 2}}
    assert store.length() == 1
    store.destroy("abc")
    assert not raw.exists("sess:abc")

    async def use():
        await store.acreate("def", session)
        known = await store.aread("def", touch=True)
        assert known.record == session
        assert await store.areplace("def", {**session, "views": 2}, known.version)
        assert await store.asessions_of(ALICE) == {"def": {**session, "views": 2}}
        await store.adestroy("def")
        assert await store.aread("def") is None

    asyncio.run(use())
    assert store.length() == 0


@pytest.mark.parametrize("protocol", [None, 2, 3], ids=["default", "resp2", "resp3"])
@pytest.mark.parametrize("form", ["alias", "client"])
def test_the_store_works_over_each_protocol(protocol, form, redis_server, settings):
    chosen = {} if protocol is None else {"protocol": protocol}
    if form == "alias":
        settings.CACHES = {
            **settings.CACHES,
            CACHE_ALIAS: {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": redis_url(redis_server),
                "OPTIONS": {"CONNECTION_POOL_KWARGS": chosen},
            },
        }
        store = RedisStore.from_options({"alias": CACHE_ALIAS})
    else:
        store = RedisStore.from_options({"client": redis.Redis(port=redis_server.port, **chosen)})
    spoken = str(protocol or redis.utils.DEFAULT_RESP_VERSION)
    with redis.Redis(port=redis_server.port) as raw:
        raw.flushdb()
        exercise(store, raw)
        # The store's own client (a copy with its bounds) kept the protocol.
        assert str(store.redis.client_info()["resp"]) == spoken

        async def spoken_by_asyncio():
            return (await store._async_connection().client.client_info())["resp"]

        assert str(asyncio.run(spoken_by_asyncio())) == spoken
    store.close()
