"""MongoDB for the tests: a real one when ``MONGO_URI`` is set, else mongoeco's
wire-protocol server (no ``mongod`` can be installed here) run by Python 3.13 from
``.venv-mongoeco`` (``MONGOECO_PYTHON``; ``scripts/test`` creates it) as a separate
process on a free port. Either way the store talks to it with pymongo over TCP, and every
test gets a database of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from .process import Server, free_port

STORE_VARIANTS = ["mongodb", "mongodb_object"]

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = Path(__file__).with_name("mongoeco_server.py")


def mongoeco_python() -> str:
    """The Python 3.13 that has mongoeco; in CI a missing one fails, elsewhere it skips."""
    python = os.environ.get("MONGOECO_PYTHON") or str(ROOT / ".venv-mongoeco" / "bin" / "python")
    if Path(python).exists():
        return python
    message = f"mongoeco's Python ({python}) is missing (scripts/test creates it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def mongoeco_server(log: Path, port: int | None = None) -> Server:
    """A mongoeco server (documents in memory), not started yet."""
    port = port or free_port()
    argv = [mongoeco_python(), str(LAUNCHER), str(port)]
    return Server(argv, port, cwd=ROOT, log=log)


def mongoeco_uri(server: Server) -> str:
    return f"mongodb://127.0.0.1:{server.port}/?directConnection=true"


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory) -> Iterator[str]:
    """The MongoDB every store test of this run shares."""
    if os.environ.get("MONGO_URI"):
        yield os.environ["MONGO_URI"]
        return
    server = mongoeco_server(tmp_path_factory.mktemp("mongoeco") / "server.log").start()
    try:
        yield mongoeco_uri(server)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mongo_client(mongo_uri):
    """A pymongo client for tests that look at the stored documents themselves."""
    from pymongo import MongoClient

    client = MongoClient(mongo_uri, tz_aware=True, serverSelectionTimeoutMS=10000)
    yield client
    client.close()


@pytest.fixture
def mongo_db_name(mongo_client) -> Iterator[str]:
    """A database of this test's own, dropped afterwards."""
    name = f"express_session_test_{uuid.uuid4().hex[:16]}"
    yield name
    mongo_client.drop_database(name)


@pytest.fixture
def store_mongodb(mongo_uri, mongo_db_name):
    return {"backend": "mongodb", "options": {"mongoUrl": mongo_uri, "dbName": mongo_db_name}}


@pytest.fixture
def store_mongodb_object(mongo_uri, mongo_db_name):
    return {
        "backend": "mongodb",
        "options": {"mongoUrl": mongo_uri, "dbName": mongo_db_name, "stringify": False},
    }
