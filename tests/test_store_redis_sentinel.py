"""The redis store on Redis Sentinel (``sentinels``, ``service``, ``sentinelOptions``)
against a real redis-sentinel watching a real primary and replica: the primary always,
the store's bounds on every connection, and a failover in which the replica is
promoted and the sessions written before it are read after it."""

from __future__ import annotations

import asyncio

import pytest
import redis
from django.core.exceptions import ImproperlyConfigured

from django_express_session.record import dumps
from django_express_session.stores.redis import RedisStore
from tests.helpers import stored_session
from tests.servers.process import free_port
from tests.servers.sentinel import SERVICE

HOUR_MS = 3_600_000


@pytest.fixture
def make_store(sentinel_group):
    stores = []

    def make(**options) -> RedisStore:
        store = RedisStore.from_options(
            {"sentinels": [sentinel_group.address], "service": SERVICE, **options}
        )
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


def test_sessions_written_before_a_failover_are_read_after_it(sentinel_group_to_fail):
    group = sentinel_group_to_fail
    # A Sentinel that is down comes first: asking for the primary moves on to the next.
    store = RedisStore.from_options(
        {"sentinels": [["127.0.0.1", free_port()], group.address], "service": SERVICE}
    )
    sync_session = stored_session({"by": "sync"}, max_age=HOUR_MS)
    async_session = stored_session({"by": "asyncio"}, max_age=HOUR_MS)

    async def across_the_failover():
        # One event loop throughout: its asyncio client lives through the failover too.
        store.create("before-sync", sync_session)
        await store.acreate("before-async", async_session)
        assert store.redis.connection_pool.get_master_address()[1] == group.primary.port
        group.wait_replicated()

        await asyncio.to_thread(group.fail_over)

        # The same store and clients: their next command finds the new primary.
        assert await store.aget("before-sync") == sync_session
        assert await store.aget("before-async") == async_session
        await store.aset("after-async", async_session)
        assert store.get("before-async") == async_session
        known = store.read("before-sync", touch=True)
        assert store.replace("before-sync", {**sync_session, "views": 2}, known.version)
        store.set("after", sync_session)

    asyncio.run(across_the_failover())
    with redis.Redis(port=group.replica.port) as promoted:
        assert promoted.get("sess:after") == dumps(sync_session).encode()
        assert promoted.get("sess:after-async") == dumps(async_session).encode()
        assert promoted.get("sess:before-sync") == dumps({**sync_session, "views": 2}).encode()
    store.close()


def test_every_connection_has_the_stores_bounds(make_store):
    store = make_store(timeout=0.25, sentinelOptions={"sentinel_kwargs": {"client_name": "s"}})
    store.set("abc", stored_session({}))
    kwargs = store.redis.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == kwargs["socket_connect_timeout"] == 0.25
    sentinel = store.redis.connection_pool.proxy.sentinel_manager.sentinels[0]
    sentinel_kwargs = sentinel.connection_pool.connection_kwargs
    assert sentinel_kwargs["socket_timeout"] == 0.25
    assert sentinel_kwargs["client_name"] == "s"  # the project's own settings stay

    async def use():
        await store.aset("abc", stored_session({"views": 1}))
        connection = store._async_connection()
        assert connection.client.connection_pool.connection_kwargs["socket_timeout"] == 0.25

    asyncio.run(use())


def test_sentinel_options_reach_the_primarys_connections(sentinel_group, make_store):
    make_store(sentinelOptions={"db": 3}).set("abc", stored_session({}))
    with redis.Redis(port=sentinel_group.primary.port, db=3) as primary:
        assert primary.exists("sess:abc")


def test_a_down_service_is_a_connection_error(make_store):
    store = make_store(service="nosuchmaster")
    with pytest.raises(RedisStore.connection_errors, match="No master found"):
        store.read("abc")

    async def use():
        await store.aread("abc")

    with pytest.raises(RedisStore.connection_errors, match="No master found"):
        asyncio.run(use())


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"sentinels": [], "service": SERVICE}, "sentinels"),
        ({"sentinels": "127.0.0.1:26379", "service": SERVICE}, "sentinels"),
        ({"sentinels": [["127.0.0.1"]], "service": SERVICE}, "sentinels"),
        ({"sentinels": [["127.0.0.1", "26379"]], "service": SERVICE}, "sentinels"),
        ({"sentinels": [["127.0.0.1", 26379]]}, "service"),
        ({"service": SERVICE}, "sentinels"),
        ({"sentinels": [["127.0.0.1", 26379]], "service": SERVICE, "alias": "x"}, "sentinels"),
        ({"sentinelOptions": {"db": 1}}, "sentinelOptions"),
        (
            {"sentinels": [["h", 1]], "service": "s", "sentinelOptions": {"socket_timeout": 5}},
            "sentinelOptions",
        ),
        (
            {"sentinels": [["h", 1]], "service": "s", "sentinelOptions": {"port": 1}},
            "sentinelOptions",
        ),
        (
            {"sentinels": [["h", 1]], "service": "s", "sentinelOptions": {"dbb": 1}},
            "sentinelOptions",
        ),
        ({"sentinels": [["h", 1]], "service": "s", "sentinelOptions": []}, "sentinelOptions"),
        (
            {
                "sentinels": [["h", 1]],
                "service": "s",
                "sentinelOptions": {"sentinel_kwargs": {"retry": None}},
            },
            "sentinelOptions.sentinel_kwargs",
        ),
    ],
)
def test_a_bad_sentinel_option_names_its_key(options, key):
    with pytest.raises(ImproperlyConfigured, match=rf"\[{key!r}\]"):
        RedisStore.from_options(options)
