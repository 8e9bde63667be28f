"""The redis store on a real 3-primary Redis Cluster, through a redis-py ``RedisCluster``
passed as the ``client`` option (django-redis has no cluster support)."""

from __future__ import annotations

import asyncio

import pytest
from django.test import Client
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster

from django_express_session.exceptions import CreateError
from django_express_session.record import dumps
from django_express_session.stores.redis import RedisStore
from tests.helpers import set_cookie, sid_of, stored_session
from tests.test_store_redis_node import run_store_call

HOUR_MS = 3_600_000
SESSIONS = 60


@pytest.fixture
def store(redis_cluster_client) -> RedisStore:
    # A first command also discovers the cluster's layout, within the one timeout: more
    # time than the default, for a loaded test machine (the bound is tested on its own).
    options = {"client": redis_cluster_client, "scanCount": 7, "timeout": 2}
    return RedisStore.from_options(options)


@pytest.fixture
def sessions(store) -> dict[str, dict]:
    """Enough sessions that every primary holds some."""
    made = {f"sid{index:03d}": stored_session({"n": index}) for index in range(SESSIONS)}
    for sid, session in made.items():
        store.set(sid, session)
    return made


def keys_per_primary(redis_cluster) -> list[int]:
    counts = []
    for client in redis_cluster.node_clients():
        counts.append(sum(1 for _ in client.scan_iter(match="sess:*")))
        client.close()
    return counts


def test_sessions_spread_over_every_primary(sessions, redis_cluster):
    counts = keys_per_primary(redis_cluster)
    assert len(counts) == 3
    assert all(counts)
    assert sum(counts) == SESSIONS


def test_length_counts_across_all_primaries(store, sessions):
    assert store.length() == SESSIONS


def test_all_reads_across_all_primaries(store, sessions):
    assert store.all() == sessions


def test_clear_empties_every_primary(store, sessions, redis_cluster, redis_cluster_client):
    redis_cluster_client.set("other:key", "kept")
    store.clear()
    assert keys_per_primary(redis_cluster) == [0, 0, 0]
    assert store.length() == 0
    assert redis_cluster_client.get("other:key") == b"kept"


def test_the_layout_is_the_same_on_a_cluster(store, redis_cluster_client):
    session = stored_session({"views": 1}, max_age=HOUR_MS)
    store.set("abc", session)
    assert redis_cluster_client.get("sess:abc") == dumps(session).encode()
    assert 3599 <= redis_cluster_client.ttl("sess:abc") <= 3600


def test_scripts_and_safe_writes_work_on_every_slot(store, sessions, redis_cluster_client):
    for sid in sessions:
        redis_cluster_client.expire(f"sess:{sid}", 5)
        known = store.read(sid, touch=True)
        assert known.touched
        assert redis_cluster_client.ttl(f"sess:{sid}") > 5
        assert store.replace(sid, {**known.record, "seen": True}, known.version)
        assert not store.replace(sid, {**known.record, "stale": True}, known.version)
        with pytest.raises(CreateError):
            store.create(sid, known.record)
    assert all(session["seen"] for session in store.all().values())


def test_the_asyncio_primitives_work_on_every_slot(store, sessions, redis_cluster_client):
    async def use() -> None:
        for sid in sessions:
            redis_cluster_client.expire(f"sess:{sid}", 5)
            known = await store.aread(sid, touch=True)
            assert known.touched
            assert redis_cluster_client.ttl(f"sess:{sid}") > 5
            assert await store.areplace(sid, {**known.record, "seen": True}, known.version)
            assert not await store.areplace(sid, {**known.record, "stale": 1}, known.version)
            with pytest.raises(CreateError):
                await store.acreate(sid, known.record)
        await store.adestroy("sid000")
        client = store._async_connection().client
        assert isinstance(client, AsyncRedisCluster)
        assert client.nodes_manager.connection_kwargs["socket_timeout"] == store.timeout

    asyncio.run(use())
    assert store.redis.nodes_manager.connection_kwargs["socket_timeout"] == store.timeout
    assert not redis_cluster_client.exists("sess:sid000")
    assert all(session["seen"] for session in store.all().values())


def test_a_cluster_client_given_by_dotted_path(redis_cluster, redis_cluster_client):
    FACTORY["cluster"] = redis_cluster
    store = RedisStore.from_options({"client": "tests.test_store_redis_cluster.make_client"})
    store.set("abc", stored_session({}))
    assert store.length() == 1
    store.close()


FACTORY = {}


def make_client():
    return FACTORY["cluster"].client()


@pytest.mark.parametrize("store_settings", ["redis_cluster"], indirect=True)
def test_a_browser_session_through_the_middleware(express, redis_cluster_client):
    express(cookie={"maxAge": 60_000})
    browser = Client()

    created = browser.get("/set", {"v": "x"})
    sid = sid_of(set_cookie(created))
    assert redis_cluster_client.ttl(f"sess:{sid}") > 50

    redis_cluster_client.expire(f"sess:{sid}", 5)
    assert browser.get("/read").json() == {"id": sid, "data": {"v": "x"}}
    assert redis_cluster_client.ttl(f"sess:{sid}") > 50  # touched while read

    browser.get("/set", {"w": "y"})
    assert RedisStore.from_options({"client": redis_cluster_client}).get(sid)["w"] == "y"

    renewed = sid_of(set_cookie(browser.get("/regenerate")))
    assert renewed != sid
    assert not redis_cluster_client.exists(f"sess:{sid}")

    browser.get("/destroy")
    assert not redis_cluster_client.exists(f"sess:{renewed}")


@pytest.mark.interop
def test_connect_redis_on_the_same_cluster_sees_the_same_sessions(
    store, redis_cluster, redis_cluster_client
):
    cluster = [f"redis://127.0.0.1:{server.port}" for server in redis_cluster.servers]
    by_node = {f"node{index}": stored_session({"n": index}) for index in range(30)}
    by_django = {f"django{index}": stored_session({"n": index}) for index in range(30)}
    for sid, session in by_django.items():
        store.set(sid, session)

    calls = [{"op": "set", "sid": sid, "session": s} for sid, s in by_node.items()]
    results = run_store_call({"cluster": cluster}, [*calls, {"op": "length"}])
    assert results[-1] == 60
    assert store.all() == {**by_node, **by_django}
    for sid, session in by_node.items():
        assert redis_cluster_client.get(f"sess:{sid}") == dumps(session).encode()

    # connect-redis 9's clear() and all() send one DEL/MGET over keys of many slots,
    # which a cluster refuses (CROSSSLOT); this store's work on every primary.
    for op in ("clear", "all"):
        with pytest.raises(AssertionError, match="CROSSSLOT"):
            run_store_call({"cluster": cluster}, [{"op": op}])
    store.clear()
    assert run_store_call({"cluster": cluster}, [{"op": "length"}]) == [0]
