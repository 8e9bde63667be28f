"""Redis for the tests: a server, a 3-primary cluster and a server to take down, each
a real ``redis-server`` on free loopback ports, without persistence, in its own temp dir.

``store_redis`` points a django-redis ``CACHES`` alias at the shared server (emptied
before each test) and returns the store settings that use it.

The clients speak redis-py's default protocol (since redis-py 8: RESP3 on the wire,
answers shaped as RESP2's) unless ``EXPRESS_SESSION_TEST_REDIS_PROTOCOL`` names one
(``2`` or ``3``): scripts/test runs the Redis tests again under RESP2.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from redis.cluster import ClusterNode, RedisCluster

from .process import Server, free_port, require

STORE_VARIANTS = ["redis"]

CACHE_ALIAS = "express_sessions"

CONNECTION_HANDSHAKE = {"HELLO", "CLIENT", "AUTH", "SELECT"}


def _protocol() -> dict[str, int]:
    chosen = os.environ.get("EXPRESS_SESSION_TEST_REDIS_PROTOCOL")
    if not chosen:
        return {}
    if chosen not in {"2", "3"}:
        raise ValueError(f"EXPRESS_SESSION_TEST_REDIS_PROTOCOL is 2 or 3, not {chosen!r}")
    return {"protocol": int(chosen)}


#: The keyword arguments that give a client the chosen protocol (none: the default).
PROTOCOL = _protocol()


def redis_server_argv(
    port: int, directory: Path, *extra: str, binary: str | None = None
) -> list[str]:
    """A server without persistence on loopback: redis-server, or ``binary`` (Valkey's
    takes the same options)."""
    return [
        binary or require("redis-server"),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(directory),
        *extra,
    ]  # fmt: skip


def start_redis(directory: Path, *extra: str) -> Server:
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = redis_server_argv(port, directory, *extra)
    return Server(argv, port, cwd=directory, log=directory / "redis.log").start()


def redis_url(server: Server, db: int = 0) -> str:
    return f"redis://127.0.0.1:{server.port}/{db}"


def commands_sent(
    client: redis.Redis, action: Callable[[], object], settle: float = 0
) -> list[str]:
    """The commands clients sent to the server while ``action`` ran (and ``settle``
    seconds after, for a writer that answers before it writes), as the server's
    ``MONITOR`` saw them: one per round trip. Left out: what Lua scripts run inside, and
    the handshake of a new pooled connection (once per connection, not per request)."""
    marker = f"end-of-action-{time.monotonic_ns()}"
    with client.monitor() as monitor:
        action()
        time.sleep(settle)
        client.echo(marker)
        sent = []
        while True:
            entry = monitor.next_command()
            if entry["command"] == f"ECHO {marker}":
                return sent
            name = entry["command"].split(" ", 1)[0].upper()
            if entry["client_type"] != "lua" and name not in CONNECTION_HANDSHAKE:
                sent.append(name)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> Iterator[Server]:
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def redis_client(redis_server) -> Iterator[redis.Redis]:
    """A plain client of the shared server, emptied before the test: to look at keys."""
    client = redis.Redis(port=redis_server.port, **PROTOCOL)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def store_redis(redis_server, redis_client, settings) -> dict:
    settings.CACHES = {
        **settings.CACHES,
        CACHE_ALIAS: {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": redis_url(redis_server),
            "OPTIONS": {"CONNECTION_POOL_KWARGS": PROTOCOL},
        },
    }
    return {"backend": "redis", "options": {"alias": CACHE_ALIAS}}


@pytest.fixture
def redis_outage_server(tmp_path) -> Iterator[Server]:
    """A server of this test alone, to stop and start again on the same port."""
    server = start_redis(tmp_path / "redis")
    yield server
    server.stop()


@dataclass
class Cluster:
    servers: list[Server]

    @property
    def nodes(self) -> list[ClusterNode]:
        return [ClusterNode("127.0.0.1", server.port) for server in self.servers]

    def client(self, **options) -> RedisCluster:
        return RedisCluster(startup_nodes=self.nodes, **{**PROTOCOL, **options})

    def node_clients(self) -> list[redis.Redis]:
        return [redis.Redis(port=server.port, **PROTOCOL) for server in self.servers]


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory) -> Iterator[Cluster]:
    """Three primaries (no replicas) sharing the 16384 slots, on loopback."""
    redis_cli = require("redis-cli")
    root = tmp_path_factory.mktemp("redis-cluster")
    servers = []
    try:
        for index in range(3):
            # The cluster bus gets its own free port: port + 10000 may be taken.
            cluster_options = [
                "--cluster-enabled", "yes",
                "--cluster-config-file", "nodes.conf",
                "--cluster-port", str(free_port()),
            ]  # fmt: skip
            servers.append(start_redis(root / f"node{index}", *cluster_options))
        create = [
            redis_cli, "--cluster", "create",
            *(f"127.0.0.1:{server.port}" for server in servers),
            "--cluster-replicas", "0", "--cluster-yes",
        ]  # fmt: skip
        subprocess.run(create, check=True, capture_output=True, timeout=60)
        cluster = Cluster(servers)
        _wait_until_cluster_ok(cluster)
        yield cluster
    finally:
        for server in servers:
            server.stop()


def _wait_until_cluster_ok(cluster: Cluster, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    clients = cluster.node_clients()
    try:
        while True:
            states = [client.cluster("INFO")["cluster_state"] for client in clients]
            if all(state == "ok" for state in states):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the test cluster is not ready: {states}")
            time.sleep(0.1)
    finally:
        for client in clients:
            client.close()


@pytest.fixture
def redis_cluster_client(redis_cluster) -> Iterator[RedisCluster]:
    """A cluster client, every primary emptied before the test."""
    client = redis_cluster.client()
    for node_client in redis_cluster.node_clients():
        node_client.flushall()
        node_client.close()
    yield client
    client.close()


@pytest.fixture
def store_redis_cluster(redis_cluster_client) -> dict:
    """The store on the test cluster, through a client object (not a ``STORE_VARIANTS``
    entry: a client object cannot be handed to the multi-process tests)."""
    return {"backend": "redis", "options": {"client": redis_cluster_client}}
