"""The ``database`` store's MySQL/MariaDB statements on a real MariaDB
(``tests/servers/mariadb.py``): the column types, byte-exact compare-and-set under a
case-insensitive collation, ``DELETE ... LIMIT`` and InnoDB's
locking under concurrent creates. The store contract and the express truth table run
on MariaDB through the ``database_mariadb`` store variant."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connections

from django_express_session.exceptions import CreateError
from django_express_session.record import dumps
from django_express_session.stores.database import DatabaseStore
from tests.helpers import stored_session
from tests.servers.postgres import database_alias

pytestmark = pytest.mark.django_db


@pytest.fixture
def store(store_database_mariadb) -> DatabaseStore:
    return DatabaseStore.from_options(store_database_mariadb["options"])


def sql(store: DatabaseStore, statement: str, params=()) -> list[tuple]:
    with connections[store.alias].cursor() as cursor:
        cursor.execute(statement, params)
        return list(cursor.fetchall()) if cursor.description else []


def expire_row(store: DatabaseStore, sid: str) -> None:
    (past,) = store.point(int(time.time()) - 60)
    sql(store, "UPDATE `session` SET expire = %s WHERE sid = %s", [past, sid])


def test_the_migration_makes_utf8mb4_text_and_microsecond_datetimes(store):
    columns = sql(
        store,
        "SELECT column_name, column_type, character_set_name FROM information_schema.columns "
        "WHERE table_schema = DATABASE() AND table_name = 'session' "
        "AND column_name NOT LIKE 'express_%%' ORDER BY column_name",
    )
    assert columns == [
        ("expire", "datetime(6)", None),
        ("sess", "longtext", "utf8mb4"),
        ("sid", "varchar(255)", "utf8mb4"),
    ]


def test_text_outside_the_basic_plane_is_stored_verbatim(store):
    session = stored_session({"name": "Zoë", "mood": "🎉", "kanji": "𠮷"})
    store.set("sid-1", session)
    assert sql(store, "SELECT sess FROM `session`") == [(dumps(session),)]
    assert store.get("sid-1") == session


def test_compare_and_set_is_byte_exact_under_a_case_insensitive_collation(store):
    store.set("sid-1", stored_session({"user": "ann"}))
    (collation,) = sql(store, "SELECT collation_name FROM information_schema.columns "
                       "WHERE table_schema = DATABASE() AND table_name = 'session' "
                       "AND column_name = 'sess'")[0]  # fmt: skip
    assert collation.endswith("_ci")  # "ann" = "ANN" for this column
    seen = store.read("sid-1")
    store.set("sid-1", stored_session({"user": "ANN"}))  # another request wrote meanwhile
    assert store.replace("sid-1", stored_session({"user": "bob"}), seen.version) is False
    assert store.get("sid-1")["user"] == "ANN"


def test_set_over_an_existing_row_updates_it(store):
    # Django connects with CLIENT_FOUND_ROWS: an UPDATE counts the rows it matched, so
    # rewriting a row with the same text and expiry still counts as written.
    session = stored_session({"v": 1})
    store.set("sid-1", session)
    store.set("sid-1", session)
    store.set("sid-1", stored_session({"v": 2}))
    assert sql(store, "SELECT COUNT(*) FROM `session`") == [(1,)]
    assert store.get("sid-1")["v"] == 2


def test_create_refuses_a_live_row_and_takes_over_an_expired_one(store):
    store.create("sid-1", stored_session({"v": 1}))
    with pytest.raises(CreateError):
        store.create("sid-1", stored_session({"v": 2}))
    assert store.get("sid-1")["v"] == 1
    expire_row(store, "sid-1")
    store.create("sid-1", stored_session({"v": 3}))
    assert store.get("sid-1")["v"] == 3


@pytest.mark.parametrize("isolation_level", ["read committed", "repeatable read"])
def test_concurrent_requests_on_new_sessions_never_deadlock(
    mariadb_server, store_database_mariadb, transactional_db, django_db_blocker, isolation_level
):
    """New sessions arriving together (each its own sid) must not deadlock on InnoDB's
    gap locks, which a lookup of an absent key takes under REPEATABLE READ (MySQL's
    default isolation; Django's is READ COMMITTED)."""
    settings = {**mariadb_server.django_settings(), "OPTIONS": {"isolation_level": isolation_level}}
    workers, rounds = 8, 10
    barrier = threading.Barrier(workers)
    failures: list[BaseException] = []

    def request_cycle(store: DatabaseStore, index: int) -> None:
        try:
            for round_ in range(rounds):
                sid = f"new-{round_}-{index}"
                barrier.wait()
                store.create(sid, stored_session({"n": index}))
                store.set(f"set-{round_}-{index}", stored_session({"n": index}))
                seen = store.read(sid)
                assert store.replace(sid, stored_session({"n": -index}), seen.version)
                store.touch(sid, stored_session({}))
        except BaseException as error:
            failures.append(error)
            barrier.abort()
        finally:
            connections.close_all()

    with database_alias("express_mariadb_isolation", settings), django_db_blocker.unblock():
        store = DatabaseStore.from_options({"alias": "express_mariadb_isolation"})
        threads = [
            threading.Thread(target=request_cycle, args=(store, index)) for index in range(workers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        assert store.length() == 2 * workers * rounds


def test_prune_deletes_expired_rows_oldest_first_in_batches(store, monkeypatch):
    # MySQL takes no LIMIT inside IN (...): its batches are DELETE ... ORDER BY LIMIT.
    monkeypatch.setattr("django_express_session.stores.database.PRUNE_BATCH", 2)
    for index in range(5):
        store.set(f"old-{index}", stored_session({}))
        expire_row(store, f"old-{index}")
    store.set("live", stored_session({}))
    progress: list[int] = []
    assert store.prune(progress=progress.append) == 5
    assert progress == [2, 4, 5]
    assert sql(store, "SELECT sid FROM `session`") == [("live",)]
