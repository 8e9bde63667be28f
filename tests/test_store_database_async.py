"""The database store's native asyncio on PostgreSQL: async requests use the store's own
pool of psycopg ``AsyncConnection``s on the event loop, never a thread, never Django's
connection; statements stay as few as on the sync path; and a server that stops
answering is a 503 in about a second, not a hung request.

The pool's connections autocommit, outside the test's transaction: these tests use
``transactional_db`` and the ``postgres_alias`` fixture's emptied table."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.db import OperationalError, connections
from django.test import AsyncClient, Client

from django_express_session import conf
from django_express_session.stores import _pg_async
from django_express_session.stores.database import DatabaseStore
from tests.helpers import stored_session, use_express_session
from tests.servers.postgres import Cluster, database_alias, migrate, start_cluster

pytestmark = pytest.mark.django_db(transaction=True)

SYNC_PRIMITIVES = ["read", "create", "replace", "destroy", "touch", "_execute"]


def configure(settings, alias: str, **options) -> DatabaseStore:
    use_express_session(
        settings, store={"backend": "database", "options": {"alias": alias, **options}}
    )
    return conf.get_store()


def cookie(response) -> str:
    return response.cookies["connect.sid"].value


@pytest.fixture
def pg_store(settings, postgres_alias) -> Iterator[DatabaseStore]:
    store = configure(settings, postgres_alias)
    yield store
    store.close()


def test_native_asyncio_only_on_postgresql(pg_store, settings):
    assert pg_store.native_async
    sqlite = configure(settings, "default")
    assert not sqlite.native_async
    assert sqlite.thread_sensitive  # its async calls run in Django's shared thread


def test_an_async_request_runs_no_store_call_in_a_thread(pg_store, monkeypatch):
    for name in SYNC_PRIMITIVES:

        def refuse(*args, name=name, **kwargs):
            raise AssertionError(f"the sync {name}() ran in an async request")

        monkeypatch.setattr(DatabaseStore, name, refuse)
    threads: list[int] = []
    aexecute = DatabaseStore._aexecute

    async def recording(self, statement):
        threads.append(threading.get_ident())
        return await aexecute(self, statement)

    monkeypatch.setattr(DatabaseStore, "_aexecute", recording)

    async def browse() -> int:
        client = AsyncClient()
        created = await client.get("/async-set", {"v": "first"})
        client.cookies["connect.sid"] = cookie(created)
        changed = await client.get("/async-set", {"v": "second"})
        read = await client.get("/async-read")
        assert [created.status_code, changed.status_code, read.status_code] == [200] * 3
        assert read.json()["data"] == {"v": "second"}
        return threading.get_ident()

    loop_thread = asyncio.run(browse())
    assert threads, "the store ran statements"
    assert set(threads) == {loop_thread}


def test_sync_and_async_paths_share_rows(pg_store):
    pg_store.create("from-sync", stored_session({"v": 1}))

    async def scenario():
        found = await pg_store.aread("from-sync")
        assert found.record["v"] == 1
        assert await pg_store.areplace("from-sync", stored_session({"v": 2}), found.version)
        await pg_store.acreate("from-async", stored_session({"v": 3}))
        assert await pg_store.alength() == 2

    asyncio.run(scenario())
    assert pg_store.get("from-sync")["v"] == 2
    assert pg_store.get("from-async")["v"] == 3


def test_expire_is_the_same_wall_clock_time_on_both_paths(pg_store):
    """The pool's connections keep the server's zone, Django's run in UTC: both write
    ``expire`` in the database's default zone, as connect-pg-simple does."""
    session = stored_session({}, 3_600_000)
    pg_store.create("sync", session)
    asyncio.run(pg_store.acreate("async", session))
    with connections[pg_store.alias].cursor() as cursor:
        cursor.execute('SELECT sid, expire FROM "session" ORDER BY sid')
        (_, from_async), (_, from_sync) = cursor.fetchall()
    assert from_async == from_sync


def test_prune_and_bulk_methods_are_native_too(pg_store, monkeypatch):
    monkeypatch.setattr("django_express_session.stores.database.PRUNE_BATCH", 2)
    for index in range(5):
        pg_store.create(f"old-{index}", stored_session({}, 1))
    pg_store.create("live", stored_session({}))
    time.sleep(1.1)  # cookie.expires rounds up to the second
    for name in SYNC_PRIMITIVES:
        monkeypatch.setattr(DatabaseStore, name, None)

    async def scenario():
        seen: list[int] = []
        assert await pg_store.aprune(dry_run=True) == 5
        assert await pg_store.aprune(progress=seen.append) == 5
        assert seen == [2, 4, 5]
        assert list(await pg_store.aall()) == ["live"]
        await pg_store.aclear()
        assert await pg_store.alength() == 0

    asyncio.run(scenario())


def test_one_pool_per_event_loop_and_none_left_behind(pg_store):
    pools = pg_store._pools.get()._pools

    async def use() -> int:
        await pg_store.alength()
        await asyncio.gather(pg_store.alength(), pg_store.alength())
        return len(pools)

    for _ in range(3):
        assert asyncio.run(use()) == 1
        gc.collect()
        assert len(pools) == 0  # the loop is gone, and so are its pool and connections


def test_create_table_if_missing_from_async_code(settings, postgres_alias):
    store = configure(settings, postgres_alias, tableName="async made", createTableIfMissing=True)
    try:

        async def scenario():
            await store.acreate("sid-1", stored_session({"v": 1}))
            return await store.aget("sid-1")

        assert asyncio.run(scenario())["v"] == 1
    finally:
        store.close()
        with connections[postgres_alias].cursor() as cursor:
            cursor.execute('DROP TABLE IF EXISTS "async made"')


# -- round trips ----------------------------------------------------------------------------


class Statements:
    """Counts the statements the store sends: through Django's cursors (sync path) and
    through psycopg's async cursors (the pool)."""

    def __init__(self, monkeypatch, alias: str) -> None:
        self.sql: list[str] = []
        self.alias = alias

        def count(execute, sql, params, many, context):
            self.sql.append(sql)
            return execute(sql, params, many, context)

        self._wrapper = count
        original = psycopg.AsyncClientCursor.execute

        async def aexecute(cursor, query, params=None, **kwargs):
            self.sql.append(query)
            return await original(cursor, query, params, **kwargs)

        monkeypatch.setattr(psycopg.AsyncClientCursor, "execute", aexecute)

    @contextlib.contextmanager
    def counting(self) -> Iterator[list[str]]:
        start = len(self.sql)
        seen: list[str] = []
        with connections[self.alias].execute_wrapper(self._wrapper):
            yield seen
        seen.extend(self.sql[start:])


@pytest.mark.parametrize(
    ("max_age", "read"), [(None, 2), (7_200_000, 1)], ids=["browser-session", "maxAge"]
)
def test_statements_per_request_are_the_same_sync_and_async(
    pg_store, settings, monkeypatch, max_age, read
):
    """A new visitor is one INSERT, a change a SELECT and an UPDATE of the row read, a
    read of an unchanged session a SELECT and the touch: on both paths (after the
    connection's first statement, which on Django's connection also looks up the
    database's default zone). With a ``maxAge`` the read touches the records that carry
    it in the same statement (``UPDATE ... RETURNING``): a read is one statement, a
    change still two."""
    if max_age is not None:
        store = {"backend": "database", "options": {"alias": pg_store.alias}}
        use_express_session(settings, store=store, cookie={"maxAge": max_age})
    statements = Statements(monkeypatch, pg_store.alias)
    sync = Client()
    sync.get("/set", {"warm": "up"})  # Django's connection open, its zone known

    def sync_requests() -> list[int]:
        counts = []
        with statements.counting() as seen:
            sync.cookies.clear()
            sync.cookies["connect.sid"] = cookie(sync.get("/set", {"v": "1"}))
        counts.append(len(seen))
        for path in ("/set?v=2", "/read"):
            with statements.counting() as seen:
                assert sync.get(path).status_code == 200
            counts.append(len(seen))
        return counts

    async def async_requests() -> list[int]:
        client = AsyncClient()
        await client.get("/async-set", {"warm": "up"})  # a pooled connection
        client.cookies.clear()
        counts = []
        with statements.counting() as seen:
            client.cookies["connect.sid"] = cookie(await client.get("/async-set", {"v": "1"}))
        counts.append(len(seen))
        for path in ("/async-set?v=2", "/async-read"):
            with statements.counting() as seen:
                assert (await client.get(path)).status_code == 200
            counts.append(len(seen))
        return counts

    # new visitor, change, read
    assert sync_requests() == [1, 2, read]
    assert asyncio.run(async_requests()) == [1, 2, read]


# -- a server that stops answering --------------------------------------------------------


def processes_of(cluster: Cluster) -> list[int]:
    """The postmaster of ``cluster`` and its children."""
    postmaster = int((cluster.directory / "data" / "postmaster.pid").read_text().split()[0])
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == postmaster:
                children.append(int(stat.parent.name))
    return [postmaster, *children]


@contextlib.contextmanager
def frozen(cluster: Cluster) -> Iterator[None]:
    """The server keeps its sockets open but answers nothing (SIGSTOP)."""
    stopped = processes_of(cluster)
    for pid in stopped:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in reversed(stopped):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


@pytest.fixture
def freezable(django_db_blocker) -> Iterator[tuple[Cluster, str]]:
    """A PostgreSQL of this test alone (it gets frozen), as a migrated alias."""
    cluster = start_cluster()
    try:
        with (
            database_alias("express_pg_frozen", cluster.django_settings()) as alias,
            django_db_blocker.unblock(),
        ):
            migrate(alias)
            yield cluster, alias
    finally:
        cluster.stop()


def test_a_frozen_server_fails_an_async_call_in_about_a_second(freezable):
    cluster, alias = freezable
    store = DatabaseStore.from_options({"alias": alias})  # timeout: 1 s by default

    async def timed(call) -> float:
        started = time.monotonic()
        with pytest.raises(OperationalError, match="did not answer within 1 s"):
            await call()
        return time.monotonic() - started

    async def scenario() -> tuple[float, float]:
        await store.acreate("sid-1", stored_session({"v": 1}))  # a pooled connection
        with frozen(cluster):
            on_open_connection = await timed(lambda: store.aread("sid-1"))
            on_new_connection = await timed(lambda: store.aread("sid-1"))
        found = await store.aread("sid-1")  # answered again, on a fresh connection
        assert found.record["v"] == 1
        return on_open_connection, on_new_connection

    try:
        for seconds in asyncio.run(scenario()):
            assert 0.9 < seconds < 2
        assert issubclass(OperationalError, store.connection_errors)
    finally:
        store.close()


def test_a_frozen_server_is_a_503_for_an_async_request(freezable, settings):
    cluster, alias = freezable
    configure(settings, alias, timeout=0.5)

    async def scenario():
        client = AsyncClient()
        client.cookies["connect.sid"] = cookie(await client.get("/async-set", {"v": "1"}))
        with frozen(cluster):
            started = time.monotonic()
            response = await client.get("/async-read")
            elapsed = time.monotonic() - started
        return response, elapsed, await client.get("/async-read")

    try:
        during, elapsed, after = asyncio.run(scenario())
    finally:
        conf.get_store().close()
    assert during.status_code == 503
    assert during.headers["Retry-After"] == "1"
    assert elapsed < 1.5
    assert after.status_code == 200
    assert after.json()["data"] == {"v": "1"}


def test_timeout_bounds_connect_and_statement(postgres_alias):
    store = DatabaseStore.from_options({"alias": postgres_alias, "timeout": 2.5})
    params = _pg_async.connection_params(connections[postgres_alias], store.timeout)
    assert params["connect_timeout"] == 3
    assert params["options"].endswith("-c statement_timeout=2500")
    assert params["autocommit"] is True
