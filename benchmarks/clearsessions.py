"""``manage.py clearsessions`` on the database store: how fast it deletes expired rows,
how much memory it needs, and how long other requests wait meanwhile.

A table of ``--rows`` sessions (default 1,000,000; half of them expired, interleaved)
is filled on SQLite (a file in a temp dir, in the default rollback-journal mode and in
WAL mode) and on PostgreSQL (a throwaway cluster
started here, as the tests do); then ``store.prune()``, what the command runs, deletes
the expired half in batches. While it runs, a second thread reads a live session in a
loop, as requests would; its slowest read shows whether the clean-up holds a lock.

    .venv/bin/python benchmarks/clearsessions.py [--rows 1000000] [--only sqlite|postgres]

Needs PostgreSQL's binaries (``initdb``/``pg_ctl``) for the PostgreSQL part.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import django  # noqa: E402
from django.conf import settings  # noqa: E402

SESS = (
    '{"cookie":{"originalMaxAge":3600000,"expires":"2026-11-22T04:25:31.614Z","httpOnly":true,'
    '"path":"/"},"passport":{"user":"user-%d"},"views":3}'
)


def configure(sqlite_path: Path, postgres: dict | None) -> None:
    databases = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(sqlite_path)},
        # Write-ahead log: readers no longer wait for a batch's commit.
        "sqlite_wal": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(sqlite_path.with_suffix(".wal.sqlite3")),
            "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL"},
        },
    }
    if postgres:
        databases["postgres"] = postgres
    settings.configure(
        INSTALLED_APPS=["django_express_session"],
        DATABASES=databases,
        USE_TZ=True,
        SECRET_KEY="benchmark",
        EXPRESS_SESSION={"store": {"backend": "database", "options": {}}},
    )
    django.setup()


def rows(count: int) -> Iterator[tuple[str, str, datetime]]:
    """Half expired an hour ago, half expiring in an hour, interleaved (UTC wall time,
    which is what the store compares against on a UTC server and on SQLite)."""
    now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    past, future = now - timedelta(hours=1), now + timedelta(hours=1)
    for index in range(count):
        yield f"sid-{index:010d}", SESS % index, past if index % 2 else future


def fill_sqlite(alias: str, count: int) -> None:
    from django.db import connections, transaction

    with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
        cursor.executemany(
            'INSERT INTO "session" (sid, sess, expire) VALUES (%s, %s, %s)',
            ((sid, sess, expire.isoformat(" ")) for sid, sess, expire in rows(count)),
        )


def fill_postgres(alias: str, count: int) -> None:
    from django.db import connections

    connection = connections[alias]
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:
        with cursor.copy('COPY "session" (sid, sess, expire) FROM STDIN') as copy:
            for row in rows(count):
                copy.write_row(row)
        cursor.execute('ANALYZE "session"')
    connection.connection.commit()


def slowest_read_while(alias: str, sid: str, done: threading.Event, out: list[float]) -> None:
    """Read one live session in a loop until ``done``; append the slowest read (s)."""
    from django.db import connections

    from django_express_session.stores.database import DatabaseStore

    store = DatabaseStore.from_options({"alias": alias})
    store.get(sid)  # connect first: the connection's set-up is not what is measured
    slowest = 0.0
    while not done.is_set():
        started = time.perf_counter()
        assert store.get(sid) is not None
        slowest = max(slowest, time.perf_counter() - started)
        time.sleep(0.005)
    connections[alias].close()
    out.append(slowest)


def measure(label: str, alias: str, count: int, fill) -> None:
    from django.core.management import call_command
    from django.db import connections

    from django_express_session.stores.database import PRUNE_BATCH, DatabaseStore

    call_command("migrate", "django_express_session", database=alias, verbosity=0)
    with connections[alias].cursor() as cursor:
        cursor.execute('DELETE FROM "session"')
    started = time.perf_counter()
    fill(alias, count)
    filled = time.perf_counter() - started
    store = DatabaseStore.from_options({"alias": alias})
    expired = store.prune(dry_run=True)

    done, slowest = threading.Event(), []
    reader = threading.Thread(
        target=slowest_read_while, args=(alias, "sid-0000000000", done, slowest)
    )
    reader.start()
    tracemalloc.start()
    started = time.perf_counter()
    removed = store.prune()
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    done.set()
    reader.join()

    assert removed == expired == count // 2, (removed, expired)
    assert store.length() == count - removed
    print(
        f"{label:<10} {count:>10,} rows (filled in {filled:.1f} s), {removed:,} expired "
        f"removed in {elapsed:.2f} s = {removed / elapsed:,.0f} rows/s, "
        f"{math.ceil(removed / PRUNE_BATCH)} batches of {PRUNE_BATCH:,}; "
        f"peak Python memory {peak / 1024:.0f} KiB; slowest concurrent read "
        f"{slowest[0] * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    args = parser.parse_args()

    from tests.servers.postgres import start_cluster

    cluster = start_cluster(time_zone="UTC") if args.only != "sqlite" else None
    try:
        with tempfile.TemporaryDirectory() as directory:
            configure(Path(directory) / "sessions.sqlite3", cluster and cluster.django_settings())
            print(f"Python {sys.version.split()[0]}, Django {django.get_version()}")
            if args.only != "postgres":
                measure("SQLite", "default", args.rows, fill_sqlite)
                measure("SQLite WAL", "sqlite_wal", args.rows, fill_sqlite)
            if cluster:
                from django.db import connections

                with connections["postgres"].cursor() as cursor:
                    cursor.execute("SHOW server_version")
                    print(f"PostgreSQL {cursor.fetchone()[0]} (fsync off, throwaway cluster)")
                measure("PostgreSQL", "postgres", args.rows, fill_postgres)
                connections["postgres"].close()
    finally:
        if cluster:
            cluster.stop()


if __name__ == "__main__":
    main()
