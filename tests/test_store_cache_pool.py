"""A pool of memcached servers shared with Node: the cache store places each session on
the server node-memcached (connect-memcached's client) places it on, so each side reads
what the other wrote, whichever server holds it."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator

import pytest
from django.core.exceptions import ImproperlyConfigured
from pymemcache.client.base import Client

from django_express_session.stores._hashring import NodeMemcachedRing
from django_express_session.stores.cache import CacheStore
from tests.helpers import stored_session
from tests.node import NODE_DIR, store_call
from tests.servers.memcached import start_memcached
from tests.servers.process import Server, require

SERVERS = 3
PREFIX = "pool:"


@pytest.fixture(scope="module")
def pool() -> Iterator[list[Server]]:
    servers = [start_memcached() for _ in range(SERVERS)]
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture
def hosts(pool) -> list[str]:
    return [f"127.0.0.1:{server.port}" for server in pool]


@pytest.fixture
def store(settings, hosts) -> Iterator[CacheStore]:
    settings.CACHES = {
        **settings.CACHES,
        "pool": {
            "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
            "LOCATION": hosts,
        },
    }
    store = CacheStore.from_options(
        {"alias": "pool", "prefix": PREFIX, "placement": "node-memcached"}
    )
    yield store
    store.close()


def node_memcached_servers(servers: list[str], keys: list[str]) -> list[str]:
    """The server the real node-memcached client picks for each key (it connects only
    when asked to run a command, so the servers need not exist)."""
    script = (
        "const Memcached = require('memcached');"
        "const [servers, keys] = JSON.parse(process.argv[1]);"
        "const client = new Memcached(servers);"
        "process.stdout.write(JSON.stringify(keys.map((key) => client.HashRing.get(key))));"
    )
    done = subprocess.run(
        [require("node"), "-e", script, json.dumps([servers, keys])],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)


def holders(pool: list[Server], key: str) -> list[int]:
    """The ports of the servers that hold ``key``."""
    found = []
    for server in pool:
        client = Client(("127.0.0.1", server.port), default_noreply=False)
        try:
            if client.get(key) is not None:
                found.append(server.port)
        finally:
            client.close()
    return found


@pytest.mark.parametrize(
    "servers",
    [
        ["127.0.0.1:11211", "127.0.0.2:11211", "127.0.0.3:11211"],  # ketama hashes the host
        ["10.0.0.1:11211", "10.0.0.1:11212", "mc.example:3000", "localhost"],
        [f"10.1.0.{n}:11211" for n in range(1, 8)],  # seven: hashring gives 39 nodes each
        [f"cache-{n}:{20000 + n}" for n in range(1, 12)],
    ],
)
def test_keys_go_where_node_memcached_puts_them(servers):
    keys = [f"sess:{uuid.uuid4().hex}" for _ in range(400)] + ["", "é-ünïcode", "a" * 240]
    ring = NodeMemcachedRing(servers)
    assert [ring.get_node(key) for key in keys] == node_memcached_servers(servers, keys)


def test_sessions_written_by_node_are_read_by_django(store, pool, hosts):
    sids = [uuid.uuid4().hex for _ in range(24)]
    sessions = {sid: stored_session({"who": sid}, 3_600_000) for sid in sids}
    store_call(
        "memcached",
        {"hosts": hosts, "prefix": PREFIX},
        *({"op": "set", "sid": sid, "session": sessions[sid]} for sid in sids),
    )
    ports = {port for sid in sids for port in holders(pool, PREFIX + sid)}
    assert ports == {server.port for server in pool}  # the pool is really used
    for sid in sids:
        assert store.get(sid) == sessions[sid]


def test_sessions_written_by_django_are_read_by_node(store, pool, hosts):
    sids = [uuid.uuid4().hex for _ in range(24)]
    sessions = {sid: stored_session({"who": sid}, 3_600_000) for sid in sids}
    for sid in sids:
        store.set(sid, sessions[sid])
    for sid in sids:
        assert len(holders(pool, PREFIX + sid)) == 1
    read = store_call(
        "memcached",
        {"hosts": hosts, "prefix": PREFIX},
        *({"op": "get", "sid": sid} for sid in sids),
    )
    assert read == [sessions[sid] for sid in sids]
    # A session Node destroys is gone for Django too: one server, found by both.
    store_call("memcached", {"hosts": hosts, "prefix": PREFIX}, {"op": "destroy", "sid": sids[0]})
    assert store.get(sids[0]) is None and store.get(sids[1]) == sessions[sids[1]]


def test_by_default_a_pool_keeps_the_placement_of_earlier_releases(settings, pool, hosts):
    """Rendezvous hashing, as before node-memcached's ring was offered: an upgrade moves
    no session of a pool to another server (nobody is signed out by it)."""
    from pymemcache.client.rendezvous import RendezvousHash

    settings.CACHES = {
        **settings.CACHES,
        "pool": {
            "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
            "LOCATION": hosts,
        },
    }
    store = CacheStore.from_options({"alias": "pool", "prefix": PREFIX})
    try:
        sids = [uuid.uuid4().hex for _ in range(24)]
        for sid in sids:
            store.set(sid, stored_session({"who": sid}, 3_600_000))
        before = RendezvousHash(hosts)
        for sid in sids:
            assert holders(pool, PREFIX + sid) == [int(before.get_node(PREFIX + sid).split(":")[1])]
    finally:
        store.close()


def test_an_unknown_placement_is_refused_by_name(settings):
    with pytest.raises(ImproperlyConfigured, match="placement"):
        CacheStore.from_options({"alias": "default", "placement": "ketama"})
