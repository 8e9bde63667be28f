"""Redis Sentinel for the tests: a primary, a replica of it and a Sentinel watching
them as ``mymaster``, each a real process on a free loopback port in the test's temp
dir, so that a test can kill the primary and watch the Sentinel promote the replica.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import redis.sentinel

from .process import Server, free_port, require
from .redis import start_redis

SERVICE = "mymaster"


@dataclass
class SentinelGroup:
    primary: Server
    replica: Server
    sentinel: Server

    @property
    def address(self) -> list:
        return ["127.0.0.1", self.sentinel.port]

    def primary_port(self) -> int | None:
        """The primary's port, as a redis-py client asks the Sentinel for it (the
        Sentinel names it, and flags it neither down nor disconnected), or None."""
        sentinel = redis.sentinel.Sentinel([("127.0.0.1", self.sentinel.port)])
        try:
            return sentinel.discover_master(SERVICE)[1]
        except redis.sentinel.MasterNotFoundError:
            return None
        finally:
            for client in sentinel.sentinels:
                client.close()

    def wait_replicated(self) -> None:
        """Until the replica has every write the primary took (``WAIT``)."""
        with redis.Redis(port=self.primary.port) as primary:
            assert primary.wait(1, 5000) == 1, "the replica did not catch up"

    def fail_over(self, timeout: float = 30) -> None:
        """Kill the primary, and return once the Sentinel named the replica in its
        place and the replica answers as a primary."""
        self.primary.stop()
        deadline = time.monotonic() + timeout
        with redis.Redis(port=self.replica.port) as replica:
            while self.primary_port() != self.replica.port or replica.role()[0] != b"master":
                if time.monotonic() > deadline:
                    raise TimeoutError("the Sentinel did not promote the replica")
                time.sleep(0.1)


def _wait_until_linked(replica: Server, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    with redis.Redis(port=replica.port) as client:
        while client.info("replication").get("master_link_status") != "up":
            if time.monotonic() > deadline:
                raise TimeoutError("the replica did not connect to its primary")
            time.sleep(0.05)


def _wait_until_watched(sentinel: Server, replica: Server, timeout: float = 30) -> None:
    """Until the Sentinel knows the replica (it learns it from the primary's INFO)."""
    deadline = time.monotonic() + timeout
    with redis.Redis(port=sentinel.port, decode_responses=True) as client:
        while not any(
            int(entry["port"]) == replica.port for entry in client.sentinel_slaves(SERVICE)
        ):
            if time.monotonic() > deadline:
                raise TimeoutError("the Sentinel does not see the replica")
            time.sleep(0.05)


def start_sentinel(directory: Path, primary: Server) -> Server:
    port = free_port()
    config = directory / "sentinel.conf"  # the Sentinel rewrites it: a file of its own
    config.write_text(
        f"port {port}\n"
        "bind 127.0.0.1\n"
        f"dir {directory}\n"
        f"sentinel monitor {SERVICE} 127.0.0.1 {primary.port} 1\n"
        f"sentinel down-after-milliseconds {SERVICE} 1000\n"
        f"sentinel failover-timeout {SERVICE} 10000\n"
    )
    argv = [require("redis-sentinel"), str(config)]
    return Server(argv, port, cwd=directory, log=directory / "sentinel.log").start()


@contextmanager
def running_group(directory: Path) -> Iterator[SentinelGroup]:
    started: list[Server] = []
    try:
        primary = start_redis(directory / "primary")
        started.append(primary)
        replica = start_redis(directory / "replica", "--replicaof", "127.0.0.1", str(primary.port))
        started.append(replica)
        _wait_until_linked(replica)
        (directory / "sentinel").mkdir()
        sentinel = start_sentinel(directory / "sentinel", primary)
        started.append(sentinel)
        _wait_until_watched(sentinel, replica)
        yield SentinelGroup(primary, replica, sentinel)
    finally:
        for server in reversed(started):
            server.stop()


@pytest.fixture(scope="module")
def sentinel_group(tmp_path_factory) -> Iterator[SentinelGroup]:
    """A group shared by a module's tests, which leave its primary up."""
    with running_group(tmp_path_factory.mktemp("sentinel")) as group:
        yield group


@pytest.fixture
def sentinel_group_to_fail(tmp_path) -> Iterator[SentinelGroup]:
    """A group of this test alone: it may kill the primary."""
    with running_group(tmp_path) as group:
        yield group
