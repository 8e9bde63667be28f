"""The redis store with valkey-py clients and django-valkey aliases, against a real
valkey-server, and valkey-py's client classes against redis-server too (both speak the
same protocol): the same layout, safe writes, bounds and errors as with redis-py."""

from __future__ import annotations

import asyncio

import pytest
import valkey
import valkey.asyncio
from django.core.exceptions import ImproperlyConfigured
from valkey.cluster import ValkeyCluster

from django_express_session.record import dumps
from django_express_session.stores.redis import RedisStore
from tests.helpers import stored_session
from tests.test_store_redis_protocols import exercise

VALKEY_ALIAS = "valkey_sessions"


@pytest.fixture(params=["valkey-server", "redis-server"])
def server(request):
    """A Valkey server, and a Redis one (valkey-py speaks to both)."""
    return request.getfixturevalue(
        "valkey_server" if request.param == "valkey-server" else "redis_server"
    )


@pytest.fixture
def raw(server):
    with valkey.Valkey(port=server.port) as client:
        client.flushdb()
        yield client


@pytest.fixture
def make_store():
    stores = []

    def make(options) -> RedisStore:
        store = RedisStore.from_options(options)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


def test_a_valkey_client_object(server, raw, make_store):
    given = valkey.Valkey(port=server.port, decode_responses=True)
    store = make_store({"client": given})
    exercise(store, raw)
    # The store's own copy, with its bounds, of valkey-py's classes (its errors, its
    # retry policy, its scripts), sync and asyncio.
    assert isinstance(store.redis, valkey.Valkey)
    assert store.redis.connection_pool.connection_kwargs["socket_timeout"] == 0.5
    assert store.redis.connection_pool.connection_kwargs["decode_responses"] is True

    async def asyncio_client():
        return store._async_connection().client

    assert isinstance(asyncio.run(asyncio_client()), valkey.asyncio.Valkey)
    given.close()


def test_a_django_valkey_alias(server, raw, make_store, settings):
    settings.CACHES = {
        **settings.CACHES,
        VALKEY_ALIAS: {
            "BACKEND": "django_valkey.cache.ValkeyCache",
            "LOCATION": f"valkey://127.0.0.1:{server.port}/0",
        },
    }
    store = make_store({"alias": VALKEY_ALIAS})
    exercise(store, raw)
    assert isinstance(store.redis, valkey.Valkey)
    assert store.redis.connection_pool.connection_kwargs["socket_timeout"] == 0.5


def test_a_dotted_path_to_a_valkey_client(valkey_server, make_store):
    VALKEY_PORT["port"] = valkey_server.port
    store = make_store({"client": "tests.test_store_valkey.valkey_client"})
    store.set("abc", stored_session({}))
    with valkey.Valkey(port=valkey_server.port) as raw:
        assert raw.get("sess:abc") == dumps(store.get("abc")).encode()


VALKEY_PORT = {}


def valkey_client() -> valkey.Valkey:
    return valkey.Valkey(port=VALKEY_PORT["port"])


def test_a_valkey_servers_outage_is_a_store_outage(make_store):
    from tests.servers.process import free_port

    store = make_store({"client": valkey.Valkey(port=free_port())})
    with pytest.raises(RedisStore.connection_errors):
        store.read("abc")


def test_a_valkey_cluster_client(redis_cluster_client, make_store):
    # The Redis test cluster, through valkey-py's cluster client.
    nodes = [
        valkey.cluster.ClusterNode(node.host, node.port)
        for node in redis_cluster_client.get_nodes()
    ]
    given = ValkeyCluster(startup_nodes=nodes)
    store = make_store({"client": given})
    sessions = {f"sid{index}": stored_session({"n": index}) for index in range(20)}
    for sid, session in sessions.items():
        store.create(sid, session)
    assert type(store.redis) is ValkeyCluster
    assert store.all() == sessions
    known = store.read("sid3", touch=True)
    assert store.replace("sid3", {**sessions["sid3"], "n": 99}, known.version)

    async def use():
        assert (await store.aread("sid3")).record["n"] == 99
        await store.adestroy("sid3")

    asyncio.run(use())
    assert store.length() == 19
    given.close()


def test_a_django_valkey_shard_client_is_refused(settings, make_store):
    settings.CACHES = {
        **settings.CACHES,
        VALKEY_ALIAS: {
            "BACKEND": "django_valkey.cache.ValkeyCache",
            "LOCATION": ["valkey://127.0.0.1:1/0", "valkey://127.0.0.1:2/0"],
            "OPTIONS": {"CLIENT_CLASS": "django_valkey.client.ShardClient"},
        },
    }
    with pytest.raises(ImproperlyConfigured, match=r"\['alias'\].*django_valkey's shard client"):
        make_store({"alias": VALKEY_ALIAS}).get("abc")
