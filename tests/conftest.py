"""Shared fixtures: every module of ``tests/servers`` is a plugin, and ``store_settings``
runs a test once per store variant those modules offer."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest
from django.db.backends.signals import connection_created

_SERVER_MODULES = sorted(
    f"tests.servers.{path.stem}"
    for path in (Path(__file__).parent / "servers").glob("*.py")
    if path.stem not in {"__init__", "process"}
)
pytest.register_assert_rewrite(*_SERVER_MODULES)
pytest_plugins = _SERVER_MODULES

STORE_VARIANTS = ["memory", "file"] + [
    variant
    for module in _SERVER_MODULES
    for variant in getattr(importlib.import_module(module), "STORE_VARIANTS", [])
]
# EXPRESS_SESSION_TEST_STORES=memory,file runs the store-parametrized tests on those only.
if os.environ.get("EXPRESS_SESSION_TEST_STORES"):
    _chosen = os.environ["EXPRESS_SESSION_TEST_STORES"].split(",")
    STORE_VARIANTS = [variant for variant in STORE_VARIANTS if variant in _chosen]


def _read_without_table_locks(sender, connection, **kwargs):
    """The test database on SQLite is in memory with a shared cache, where a reader's
    table lock fails another thread's write at once ("database table is locked", which no
    busy timeout waits for); a database file makes that writer wait instead. Readers that
    take no table lock give the tests that read and write from two threads (a socket's
    recheck while a logout runs) the file's behaviour."""
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        connection.connection.execute("PRAGMA read_uncommitted = ON")


connection_created.connect(_read_without_table_locks)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test database, with the database store's table, which the store's tests use:
    the test project's store is the file store, so ``migrate`` made none; a ``migrate``
    with the database store configured makes it, as for a project that switches."""
    from django.core.management import call_command
    from django.test import override_settings

    database_store = {"store": {"backend": "database", "options": {}}}
    with django_db_blocker.unblock(), override_settings(EXPRESS_SESSION=database_store):
        call_command("migrate", "django_express_session", verbosity=0)


@pytest.fixture
def session_clock():
    """The package's clock (``core.lifetime.clock``): ``advance(ms)`` moves "now" for the
    session, the decision and the stores' own arithmetic (not a server's TTL)."""
    from django_express_session.core.lifetime import clock

    yield clock
    clock.reset()


@pytest.fixture
def store_memory():
    return {"backend": "memory", "options": {}}


@pytest.fixture
def store_file(tmp_path):
    return {"backend": "file", "options": {"path": str(tmp_path / "sessions")}}


@pytest.fixture(params=STORE_VARIANTS)
def store_settings(request):
    """The ``EXPRESS_SESSION["store"]`` of one store variant (the test runs for each)."""
    return request.getfixturevalue(f"store_{request.param}")


@pytest.fixture
def express(settings, store_settings):
    """Configure ``EXPRESS_SESSION`` (express options as keyword arguments) over the
    store variant under test, and return the store."""
    from django_express_session import conf
    from tests.helpers import express_session

    settings.ROOT_URLCONF = "tests.urls"

    def configure(**options):
        settings.EXPRESS_SESSION = express_session(**{"store": store_settings, **options})
        return conf.get_store()

    configure()
    return configure


@pytest.fixture
def spy(express, monkeypatch):
    from tests.helpers import StoreSpy

    return lambda: StoreSpy(monkeypatch)
