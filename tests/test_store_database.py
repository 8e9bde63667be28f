"""The ``database`` store: connect-pg-simple's table on SQLite and on a real PostgreSQL
whose server ``TimeZone`` is not UTC (``tests/servers/postgres.py``)."""

from __future__ import annotations

import asyncio
import json
import math
import time
from datetime import datetime

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, OperationalError, connections, transaction

from django_express_session.exceptions import CorruptRecord, CreateError
from django_express_session.record import dumps
from django_express_session.stores.database import DatabaseStore, Statement
from tests.helpers import stored_session
from tests.node import store_call
from tests.servers.postgres import ALIAS

VARIANTS = ["database_sqlite", "database_postgres", "database_mariadb"]

# Static, so pytest-django sets up the test database the fixtures then ask for.
pytestmark = pytest.mark.django_db


def record(data=None, *, max_age_ms: int | None = 3_600_000) -> dict:
    return stored_session(data or {}, max_age_ms)


def empty_table(alias: str) -> None:
    """Async tests elsewhere write through another thread's connection, which commits
    outside their test's transaction: start from an empty table."""
    with connections[alias].cursor() as cursor:
        cursor.execute(f"DELETE FROM {connections[alias].ops.quote_name('session')}")


@pytest.fixture(params=VARIANTS)
def options(request) -> dict:
    options = request.getfixturevalue(f"store_{request.param}")["options"]
    empty_table(options.get("alias", "default"))
    return options


@pytest.fixture
def store(options) -> DatabaseStore:
    return DatabaseStore.from_options(options)


def sql(store: DatabaseStore, statement: str, params=()) -> list[tuple]:
    """Run SQL on the store's database, as another client would."""
    with connections[store.alias].cursor() as cursor:
        cursor.execute(statement.replace("%t", store.table), params)
        return list(cursor.fetchall()) if cursor.description else []


def expire_rows(store: DatabaseStore, where: str, *params) -> None:
    """Make rows expired without deleting them (as a pruner that has not run yet)."""
    past = store.point(int(time.time()) - 60)
    statement = f"UPDATE {store.table} SET expire = {store.at} WHERE {where}"
    store._execute(Statement(statement, (*past, *params)))


def expire_row(store: DatabaseStore, sid: str) -> None:
    expire_rows(store, "sid = %s", sid)


# -- express's API ----------------------------------------------------------------------


def test_set_get_destroy(store):
    session = record({"views": 1, "passport": {"user": "ann"}})
    store.set("sid-1", session)
    assert store.get("sid-1") == session
    store.set("sid-1", record({"views": 2}))
    assert store.get("sid-1")["views"] == 2
    store.destroy("sid-1")
    assert store.get("sid-1") is None
    store.destroy("sid-1")  # destroying a missing session is fine


def test_stored_text_is_json_stringify_verbatim(store):
    session = record({"name": "Zoë", "z": 1, "a": [1.5, None]})
    store.set("sid-1", session)
    (text,) = sql(store, f"SELECT {store.sess} FROM %t")[0]
    assert text == dumps(session)
    assert list(json.loads(text)) == ["cookie", "name", "z", "a"]


def test_reads_ignore_expired_rows(store):
    store.set("sid-1", record({"v": 1}))
    expire_row(store, "sid-1")
    assert store.get("sid-1") is None
    assert store.read("sid-1") is None
    assert store.length() == 0
    assert store.all() == {}


def test_all_length_clear(store):
    store.set("a", record({"n": 1}))
    store.set("b", record({"n": 2}))
    store.set("gone", record())
    expire_row(store, "gone")
    assert store.length() == 2
    assert {sid: session["n"] for sid, session in store.all().items()} == {"a": 1, "b": 2}
    store.clear()
    assert store.length() == 0


def test_touch_moves_expire_only_and_never_revives(store):
    session = record({"v": 1}, max_age_ms=60_000)
    store.set("sid-1", session)
    later = record({"v": "ignored"}, max_age_ms=7_200_000)
    store.touch("sid-1", later)
    assert store.get("sid-1") == session  # sess is not rewritten
    (expire,) = sql(store, "SELECT expire FROM %t")[0]
    store.set("probe", later)
    assert sql(store, "SELECT expire FROM %t WHERE sid = 'probe'")[0][0] == expire

    expire_row(store, "sid-1")
    store.touch("sid-1", later)
    assert store.get("sid-1") is None
    store.touch("never-stored", later)
    assert sql(store, "SELECT COUNT(*) FROM %t WHERE sid = 'never-stored'") == [(0,)]


def test_disable_touch(options):
    store = DatabaseStore.from_options({**options, "disableTouch": True})
    store.set("sid-1", record(max_age_ms=60_000))
    before = sql(store, "SELECT expire FROM %t")
    store.touch("sid-1", record(max_age_ms=7_200_000))
    assert sql(store, "SELECT expire FROM %t") == before


def test_corrupt_row_is_an_error_not_a_missing_session(store):
    store.set("sid-1", record())
    sql(store, "UPDATE %t SET sess = %s", ['{"views": 1}'])
    with pytest.raises(CorruptRecord):
        store.read("sid-1")
    assert sql(store, "SELECT COUNT(*) FROM %t") == [(1,)]  # nothing was lost


# -- safe writes ------------------------------------------------------------------------


def test_create_takes_over_an_expired_row(store):
    store.create("sid-1", record({"v": 1}))
    expire_row(store, "sid-1")
    store.create("sid-1", record({"v": 2}))
    assert store.get("sid-1")["v"] == 2


def test_failed_create_leaves_the_outer_transaction_usable(store):
    store.create("sid-1", record())
    with transaction.atomic(using=store.alias):
        with pytest.raises(CreateError):
            store.create("sid-1", record())
        store.set("sid-2", record())
    assert store.get("sid-2") is not None


def test_async_twins(store, transactional_db):
    async def scenario():
        await store.acreate("sid-1", record({"v": 1}))
        found = await store.aread("sid-1")
        assert await store.areplace("sid-1", record({"v": 2}), found.version)
        assert (await store.aget("sid-1"))["v"] == 2
        await store.adestroy("sid-1")
        assert await store.aget("sid-1") is None

    asyncio.run(scenario())


# -- expiry -----------------------------------------------------------------------------


def stored_expire_epoch(store: DatabaseStore, sid: str) -> int:
    """The ``expire`` column as unix seconds, read the way connect-pg-simple compares it."""
    c = connections[store.alias]
    if c.vendor == "postgresql":
        # A timestamp without zone means wall-clock time in the server's default zone.
        statement = (
            "SELECT extract(epoch FROM expire AT TIME ZONE "
            "(SELECT reset_val FROM pg_settings WHERE name = 'TimeZone'))::bigint "
            "FROM %t WHERE sid = %s"
        )
        return sql(store, statement, [sid])[0][0]
    from django_express_session.models import ExpressSession

    moment = ExpressSession.objects.using(store.alias).get(sid=sid).expire
    return int(moment.timestamp())


def test_expire_is_cookie_expires_rounded_up(store):
    session = record(max_age_ms=3_600_000)
    store.set("sid-1", session)
    expires = datetime.fromisoformat(session["cookie"]["expires"].replace("Z", "+00:00"))
    assert stored_expire_epoch(store, "sid-1") == math.ceil(expires.timestamp())


def test_expire_without_cookie_expiry_is_now_plus_ttl(options):
    store = DatabaseStore.from_options({**options, "ttl": 600})
    before = time.time()
    store.set("sid-1", record(max_age_ms=None))
    expire = stored_expire_epoch(store, "sid-1")
    assert math.ceil(before + 600) <= expire <= math.ceil(time.time() + 600)


def test_postgres_column_types_are_connect_pg_simples(store_database_postgres):
    store = DatabaseStore.from_options(store_database_postgres["options"])
    types = sql(
        store,
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'session' ORDER BY ordinal_position",
    )
    assert types == [
        ("sid", "character varying"),
        ("sess", "json"),
        ("expire", "timestamp without time zone"),
    ]
    indexes = sql(store, "SELECT indexname FROM pg_indexes WHERE tablename = 'session'")
    # connect-pg-simple's two, and the migration's user key indexes.
    assert sorted(name for (name,) in indexes) == [
        "IDX_session_django_user",
        "IDX_session_expire",
        "IDX_session_passport_user",
        "session_pkey",
    ]


def test_postgres_server_time_zone_is_not_utc(store_database_postgres):
    """The trap is armed: Django's connection runs in UTC, the server default is not."""
    store = DatabaseStore.from_options(store_database_postgres["options"])
    assert sql(store, "SHOW TimeZone") == [("UTC",)]
    assert sql(store, "SELECT reset_val FROM pg_settings WHERE name = 'TimeZone'") == [
        ("America/New_York",)
    ]


def test_postgres_expire_holds_the_wall_clock_time_node_writes(store_database_postgres):
    """connect-pg-simple's session (TimeZone = the server default) sees the same
    instant this store meant, so neither side expires the other's sessions early."""
    store = DatabaseStore.from_options(store_database_postgres["options"])
    session = record(max_age_ms=3_600_000)
    store.set("sid-1", session)
    with connections[store.alias].cursor() as cursor:
        cursor.execute("SET TimeZone = 'America/New_York'")  # what a node-postgres pool gets
        cursor.execute(
            "SELECT extract(epoch FROM expire::timestamptz)::bigint, "
            'expire >= to_timestamp(%s) FROM "session"',
            [math.ceil(time.time())],
        )
        epoch, alive = cursor.fetchone()
        cursor.execute("SET TimeZone = 'UTC'")
    expires = datetime.fromisoformat(session["cookie"]["expires"].replace("Z", "+00:00"))
    assert epoch == math.ceil(expires.timestamp())
    assert alive is True


# -- options and the table ----------------------------------------------------------------


@pytest.mark.parametrize(
    "key,value",
    [
        ("ttl", "1d"),
        ("ttl", 0),
        ("tableName", ""),
        ("schemaName", 3),
        ("createTableIfMissing", "yes"),
        ("pruneSessionInterval", "often"),
        ("disableTouch", 1),
        ("alias", "nowhere"),
    ],
)
def test_bad_options_name_the_key(key, value):
    with pytest.raises(ImproperlyConfigured, match=key):
        DatabaseStore.from_options({key: value})


def test_connect_pg_simple_options_are_accepted(db):
    DatabaseStore.from_options(
        {"pruneSessionInterval": False, "pruneSessionRandomizedInterval": False, "ttl": 3600}
    )
    with pytest.raises(ImproperlyConfigured, match="pool"):
        DatabaseStore.from_options({"pool": object()})


def test_other_table_created_if_missing(options):
    store = DatabaseStore.from_options(
        {**options, "tableName": "web sessions", "createTableIfMissing": True}
    )
    try:
        store.set("sid-1", record({"v": 1}))
        assert store.get("sid-1")["v"] == 1
        assert sql(store, "SELECT COUNT(*) FROM %t") == [(1,)]
        # A second store on the same table finds it there.
        again = DatabaseStore.from_options(
            {**options, "tableName": "web sessions", "createTableIfMissing": True}
        )
        assert again.get("sid-1")["v"] == 1
    finally:
        sql(store, "DROP TABLE %t")


def test_postgres_schema_name(store_database_postgres):
    options = {
        **store_database_postgres["options"],
        "schemaName": "Sessions Schema",
        "tableName": "session",
        "createTableIfMissing": True,
    }
    store = DatabaseStore.from_options(options)
    sql(store, 'CREATE SCHEMA IF NOT EXISTS "Sessions Schema"')
    try:
        store.set("sid-1", record({"v": 1}))
        assert sql(store, 'SELECT COUNT(*) FROM "Sessions Schema"."session"') == [(1,)]
        assert sql(store, 'SELECT COUNT(*) FROM "session"') == [(0,)]
    finally:
        sql(store, 'DROP SCHEMA "Sessions Schema" CASCADE')


def test_without_the_table_an_error_is_raised(options):
    store = DatabaseStore.from_options({**options, "tableName": "missing_table"})
    with pytest.raises(DatabaseError) as caught:  # OperationalError or ProgrammingError
        store.read("sid-1")
    assert "missing_table" in str(caught.value)


class PortableStore(DatabaseStore):
    """The statements used on databases without ``ON CONFLICT``: insert, and on a taken id
    delete an expired row and insert again."""

    on_conflict_vendors = frozenset()


def test_portable_statements(store_database_sqlite):
    store = PortableStore.from_options(store_database_sqlite["options"])
    store.set("sid-1", record({"v": 1}))
    store.set("sid-1", record({"v": 2}))
    assert store.get("sid-1")["v"] == 2
    with pytest.raises(CreateError):
        store.create("sid-1", record())
    expire_row(store, "sid-1")
    store.create("sid-1", record({"v": 3}))
    assert store.get("sid-1")["v"] == 3


# -- prune --------------------------------------------------------------------------------


def test_prune_deletes_only_expired_rows_and_reports_progress(store, monkeypatch):
    monkeypatch.setattr("django_express_session.stores.database.PRUNE_BATCH", 3)
    for index in range(7):
        store.set(f"old-{index}", record())
        expire_row(store, f"old-{index}")
    store.set("live", record())
    assert store.prune(dry_run=True) == 7
    assert sql(store, "SELECT COUNT(*) FROM %t") == [(8,)]
    seen = []
    assert store.prune(progress=seen.append) == 7
    assert seen == [3, 6, 7]
    assert [sid for (sid,) in sql(store, "SELECT sid FROM %t")] == ["live"]
    assert store.prune() == 0


def test_unreachable_database_is_a_connection_error(postgres_cluster, db, django_db_blocker):
    from tests.servers.postgres import database_alias

    dead = {**postgres_cluster.django_settings(), "PORT": "1"}
    with database_alias(ALIAS + "_dead", dead) as alias, django_db_blocker.unblock():
        store = DatabaseStore.from_options({"alias": alias})
        with pytest.raises(store.connection_errors):
            store.read("sid-1")
    assert issubclass(OperationalError, store.connection_errors)


# -- byte-level interop with connect-pg-simple 10 (server TimeZone America/New_York) ------


def rows(store: DatabaseStore) -> dict[str, tuple[str, str]]:
    """Each row's ``sess`` text and ``expire`` as PostgreSQL prints it."""
    found = sql(store, "SELECT sid, sess::text, expire::text FROM %t")
    return {sid: (sess, expire) for sid, sess, expire in found}


@pytest.fixture
def pg_store(store_database_postgres) -> DatabaseStore:
    return DatabaseStore.from_options(store_database_postgres["options"])


@pytest.mark.interop
@pytest.mark.parametrize("max_age_ms", [3_600_000, None])
def test_same_session_same_row_as_connect_pg_simple(pg_store, postgres_cluster, max_age_ms):
    session = record(
        {"views": 1, "passport": {"user": "ann"}, "name": "Zoë"}, max_age_ms=max_age_ms
    )
    pg_store.set("django-side", session)
    store_call(
        "pg",
        {"connectionString": postgres_cluster.url},
        {"op": "set", "sid": "node-side", "session": session},
    )
    stored = rows(pg_store)
    assert stored["django-side"][0] == stored["node-side"][0] == dumps(session)
    if max_age_ms is not None:
        assert stored["django-side"][1] == stored["node-side"][1]  # to the second
    else:  # now + ttl: the two writes are a moment apart
        django_at, node_at = (
            datetime.fromisoformat(stored[s][1]) for s in ("django-side", "node-side")
        )
        assert abs((node_at - django_at).total_seconds()) <= 5


@pytest.mark.interop
def test_each_side_reads_touches_and_destroys_the_others_sessions(pg_store, postgres_cluster):
    node = {"connectionString": postgres_cluster.url}
    from_django = record({"who": "django"}, max_age_ms=600_000)
    from_node = record({"who": "node"}, max_age_ms=600_000)
    pg_store.set("django-side", from_django)
    results = store_call(
        "pg",
        node,
        {"op": "get", "sid": "django-side"},
        {"op": "set", "sid": "node-side", "session": from_node},
    )
    assert results[0] == from_django
    # Written by Node in New York wall-clock time, read by Django in UTC: still alive.
    assert pg_store.get("node-side") == from_node

    longer = record({"who": "node"}, max_age_ms=7_200_000)
    store_call("pg", node, {"op": "touch", "sid": "node-side", "session": longer})
    pg_store.set("probe", longer)
    assert rows(pg_store)["node-side"][1] == rows(pg_store)["probe"][1]

    pg_store.destroy("node-side")
    assert store_call("pg", node, {"op": "get", "sid": "node-side"}) == [None]


@pytest.mark.interop
def test_expired_for_django_is_expired_for_node(pg_store, postgres_cluster):
    pg_store.set("old", record({"v": 1}, max_age_ms=600_000))
    expire_row(pg_store, "old")
    assert store_call(
        "pg", {"connectionString": postgres_cluster.url}, {"op": "get", "sid": "old"}
    ) == [None]


@pytest.mark.interop
def test_a_table_connect_pg_simple_created_is_used_as_is(pg_store, postgres_cluster):
    # In a schema of its own: connect-pg-simple names every table's constraint
    # "session_pkey", so a second table in one schema fails to create.
    sql(pg_store, 'CREATE SCHEMA "node made"')
    where = {"schemaName": "node made", "createTableIfMissing": True}
    node = {"connectionString": postgres_cluster.url, **where}
    session = record({"v": 1})
    try:
        store_call("pg", node, {"op": "set", "sid": "node-side", "session": session})
        store = DatabaseStore.from_options({"alias": pg_store.alias, **where})
        assert store.get("node-side") == session
        store.set("django-side", session)
        assert store_call("pg", node, {"op": "get", "sid": "django-side"}) == [session]
    finally:
        sql(pg_store, 'DROP SCHEMA "node made" CASCADE')
