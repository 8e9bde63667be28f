"""The ``database`` store's ``sessions_of``: the user keys inside ``sess`` indexed by the
migration (an expression index on PostgreSQL and SQLite, indexed virtual columns on
MariaDB), rows written as Node writes them found too, and the index really used."""

from __future__ import annotations

import asyncio
import json

import pytest

from django_express_session.owner import Owner
from django_express_session.record import dumps
from django_express_session.stores import _user_index
from django_express_session.stores.database import DatabaseStore
from tests import test_store_database as database_tests
from tests.helpers import stored_session
from tests.test_store_database import expire_row, sql

pytestmark = pytest.mark.django_db

# The store on each database variant, as the store's own tests have it.
options, store = database_tests.options, database_tests.store

ALICE = Owner(django_id="7", passport="alice")


def logged_in(django_id: str | None = None, passport=None, **data) -> dict:
    if django_id is not None:
        data["_auth_user_id"] = django_id
    if passport is not None:
        data["passport"] = {"user": passport}
    return stored_session(data, 3_600_000)


def insert_as_node(store: DatabaseStore, sid: str, session: dict) -> None:
    """A row as connect-pg-simple writes it (its own INSERT, not the store's)."""
    store.set(sid, stored_session({}, 3_600_000))
    sql(store, "UPDATE %t SET sess = %s WHERE sid = %s", [json.dumps(session), sid])


def test_finds_the_users_rows_by_either_key_and_no_one_elses(store):
    store.set("by-django", logged_in("7"))
    store.set("by-both", logged_in("7", "alice"))
    insert_as_node(store, "by-express", logged_in(passport="alice"))
    store.set("bob", logged_in("8", "bob"))
    store.set("anonymous", stored_session({"cart": [1]}, 3_600_000))
    assert sorted(store.sessions_of(ALICE)) == ["by-both", "by-django", "by-express"]
    assert sorted(store.sessions_of(Owner(django_id="7"))) == ["by-both", "by-django"]
    assert store.sessions_of(Owner(django_id="9", passport="nobody")) == {}


def test_expired_rows_are_never_listed(store):
    store.set("live", logged_in("7"))
    store.set("expired", logged_in("7"))
    expire_row(store, "expired")
    assert list(store.sessions_of(ALICE)) == ["live"]


def test_a_look_alike_key_is_not_the_user(store):
    """The index narrows by text; the record decides: " 7" and "07" are not 7, nor
    "Alice" "alice"; "7" is 7 (node-postgres gives a bigint id as text), and the
    identity bridge logs in by the same rule."""
    store.set("number", logged_in(passport=7))
    store.set("number-as-text", logged_in(passport="7"))
    store.set("other-case", logged_in(passport="Alice"))
    store.set("padded", logged_in(passport=" 7"))
    store.set("leading-zero", logged_in(passport="07"))
    assert store.sessions_of(ALICE) == {}
    owned = store.sessions_of(Owner(django_id=None, passport=7))
    assert sorted(owned) == ["number", "number-as-text"]
    assert list(store.sessions_of(Owner(django_id=None, passport="7"))) == ["number-as-text"]


def test_a_passport_user_that_is_an_object_is_found_by_a_scan(store):
    store.set("object", logged_in(passport={"id": 7}))
    store.set("other", logged_in(passport={"id": 8}))
    assert list(store.sessions_of(Owner(django_id=None, passport={"id": 7}))) == ["object"]


def test_a_row_that_is_not_a_record_is_skipped(store):
    store.set("good", logged_in("7"))
    insert_as_node(store, "no-cookie", {"_auth_user_id": "7"})
    assert list(store.sessions_of(ALICE)) == ["good"]


def test_a_key_longer_than_the_mariadb_column_is_found(store):
    long_name = "x" * (_user_index.MARIADB_KEY_CHARS + 20)
    store.set("long", logged_in(passport=long_name))
    store.set("prefix", logged_in(passport=long_name[:-1]))
    assert list(store.sessions_of(Owner(django_id=None, passport=long_name))) == ["long"]


def test_the_native_async_path_runs_the_same_statements(store, transactional_db):
    store.set("by-django", logged_in("7"))
    insert_as_node(store, "by-express", logged_in(passport="alice"))
    found = asyncio.run(store.asessions_of(ALICE))
    assert sorted(found) == ["by-django", "by-express"]


def test_a_table_created_if_missing_gets_the_index(options):
    store = DatabaseStore.from_options(
        {**options, "tableName": "web sessions", "createTableIfMissing": True}
    )
    try:
        insert_as_node(store, "by-express", logged_in(passport="alice"))
        assert list(store.sessions_of(ALICE)) == ["by-express"]
        assert uses_index(store, "passport_user")
    finally:
        sql(store, "DROP TABLE %t")


# -- the index is there, and the query uses it ------------------------------------------


def plan(store: DatabaseStore, key: str) -> str:
    """The database's plan of the store's lookup by ``key`` (the statement it runs)."""
    lookup = store._planned(store._user_lookup())
    query = f"SELECT sid FROM {store.table} WHERE {lookup[key]} = %s"
    if store.vendor == "postgresql":
        sql(store, "SET enable_seqscan = off")  # a few rows: make the planner show its hand
        try:
            return "\n".join(row[0] for row in sql(store, "EXPLAIN " + query, ["alice"]))
        finally:
            sql(store, "RESET enable_seqscan")
    if store.vendor == "sqlite":
        return "\n".join(str(row) for row in sql(store, "EXPLAIN QUERY PLAN " + query, ["alice"]))
    return "\n".join(str(row) for row in sql(store, "EXPLAIN " + query, ["alice"]))


def uses_index(store: DatabaseStore, key: str) -> bool:
    return _user_index.index_name(store.table_name, key) in plan(store, key)


@pytest.mark.parametrize("key", _user_index.KEYS)
def test_the_lookup_uses_the_migrations_index(store, key):
    for number in range(50):
        store.set(f"s{number}", logged_in(str(number), f"user{number}"))
    assert uses_index(store, key), plan(store, key)


def test_mariadb_indexes_virtual_columns_and_leaves_connect_pg_simples_alone(
    store_database_mariadb,
):
    store = DatabaseStore.from_options(store_database_mariadb["options"])
    columns = sql(
        store,
        "SELECT column_name, column_type, extra FROM information_schema.columns "
        "WHERE table_schema = DATABASE() AND table_name = 'session' ORDER BY ordinal_position",
    )
    assert columns == [
        ("sid", "varchar(255)", ""),
        ("sess", "longtext", ""),
        ("expire", "datetime(6)", ""),
        ("express_django_user", "varchar(255)", "VIRTUAL GENERATED"),
        ("express_passport_user", "varchar(255)", "VIRTUAL GENERATED"),
    ]
    # A text that is not JSON still writes (its keys are NULL), so nothing is refused.
    store.set("sid-1", logged_in("7"))
    sql(store, "UPDATE %t SET sess = %s WHERE sid = %s", ["{not json", "sid-1"])
    assert sql(store, "SELECT express_django_user FROM %t") == [(None,)]


def test_postgres_indexes_are_partial_expression_indexes(store_database_postgres):
    store = DatabaseStore.from_options(store_database_postgres["options"])
    indexes = dict(
        sql(store, "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'session'")
    )
    assert {"IDX_session_django_user", "IDX_session_passport_user"} <= set(indexes)
    assert (
        "WHERE ((sess ->> '_auth_user_id'::text) IS NOT NULL)" in indexes["IDX_session_django_user"]
    )


def test_the_documented_statements_index_a_table_made_by_connect_pg_simple(
    store_database_postgres,
):
    """A table of connect-pg-simple's own (``table.sql``), then the statements
    ``docs/users.md`` gives, run twice: the lookup uses the index."""
    options = {**store_database_postgres["options"], "tableName": "node_sessions"}
    store = DatabaseStore.from_options(options)
    sql(store, 'CREATE TABLE "node_sessions" ("sid" varchar NOT NULL COLLATE "default", '
               '"sess" json NOT NULL, "expire" timestamp(6) NOT NULL)')  # fmt: skip
    try:
        sql(store, 'ALTER TABLE "node_sessions" ADD PRIMARY KEY ("sid")')
        for _ in range(2):
            for statement in documented_statements("node_sessions"):
                sql(store, statement)
        insert_as_node(store, "by-express", logged_in(passport="alice"))
        assert list(store.sessions_of(ALICE)) == ["by-express"]
        assert uses_index(store, "passport_user")
    finally:
        sql(store, 'DROP TABLE "node_sessions"')


def documented_statements(table: str) -> list[str]:
    """The PostgreSQL statements of ``docs/users.md``, for ``table``."""
    from pathlib import Path

    text = (Path(__file__).parents[1] / "docs" / "users.md").read_text()
    block = text.split("```sql\n", 1)[1].split("```", 1)[0]
    statements = [part.strip() for part in block.split(";") if part.strip()]
    assert len(statements) == 2, statements
    return [statement.replace('"session"', f'"{table}"').replace("IDX_session_", f"IDX_{table}_")
            for statement in statements]  # fmt: skip


def test_the_stored_text_is_left_as_written(store):
    """The index reads ``sess``; it never rewrites it (Node reads the text back)."""
    session = logged_in("7", "alice")
    store.set("sid-1", session)
    assert sql(store, "SELECT sess FROM %t") in ([(dumps(session),)], [(session,)])


def test_a_mariadb_table_without_the_columns_is_scanned(store_database_mariadb):
    """A table made before the migration's columns existed (another ``tableName``)."""
    store = DatabaseStore.from_options({**store_database_mariadb["options"], "tableName": "bare"})
    sql(store, "CREATE TABLE %t (sid varchar(255) NOT NULL PRIMARY KEY, "
               "sess longtext NOT NULL, expire datetime(6) NOT NULL)")  # fmt: skip
    try:
        store.set("by-django", logged_in("7"))
        insert_as_node(store, "by-express", logged_in(passport="alice"))
        store.set("bob", logged_in("8", "bob"))
        assert sorted(store.sessions_of(ALICE)) == ["by-django", "by-express"]
        assert store._user_columns is False  # looked up once, then the scan
    finally:
        sql(store, "DROP TABLE %t")


def test_an_index_a_failed_concurrent_build_left_invalid_is_built_again(postgres_cluster):
    """``CREATE INDEX CONCURRENTLY`` that fails (here: a unique index over duplicates)
    leaves an invalid index under the name; ``IF NOT EXISTS`` alone would keep it."""
    import psycopg

    def quote(name: str) -> str:
        return f'"{name}"'

    table, name = "half_indexed", _user_index.index_name("half_indexed", "django_user")
    with psycopg.connect(postgres_cluster.url, autocommit=True) as connection:
        connection.execute(f'CREATE TABLE "{table}" (sid varchar PRIMARY KEY, sess json, '
                           "expire timestamp(6))")  # fmt: skip
        try:
            for sid in ("a", "b"):
                connection.execute(f'INSERT INTO "{table}" VALUES (%s, %s, now())',
                                   [sid, json.dumps(logged_in("7"))])  # fmt: skip
            with pytest.raises(psycopg.errors.UniqueViolation):
                connection.execute(f'CREATE UNIQUE INDEX CONCURRENTLY "{name}" ON "{table}" '
                                   "((sess->>'_auth_user_id'))")  # fmt: skip

            def valid() -> list[bool]:
                return [row[0] for row in connection.execute(
                    "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = "
                    "i.indexrelid WHERE c.relname = %s", [name])]  # fmt: skip

            assert valid() == [False]
            with connection.cursor() as cursor:
                drops = _user_index.invalid_index_drops(cursor, table, quote)
            assert drops == [f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"']
            build = _user_index.ddl("postgresql", quote(table), table, quote, concurrently=True)
            for statement in [*drops, *build]:
                connection.execute(statement)
            assert valid() == [True]
            with connection.cursor() as cursor:
                assert _user_index.invalid_index_drops(cursor, table, quote) == []
        finally:
            connection.execute(f'DROP TABLE "{table}"')
