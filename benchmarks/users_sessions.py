"""``users.sessions_of`` and ``users.logout_everywhere`` with many stored sessions, on
the database store (PostgreSQL, through the user key indexes; SQLite) and on the file
and memory stores (a scan).

The table holds ``--rows`` sessions (default 1,000,000 on PostgreSQL): a third logged
in on Django (``_auth_user_id``), a third on Express (``passport.user`` only), a third
anonymous; 1 in 20 expired. The measured user has 5 sessions, 2 of them Express's.
On PostgreSQL the table is filled before migration ``0002`` runs, so its index build
on a full table is timed too, and the cost of a write with the indexes is compared
with the same writes without them.

    .venv/bin/python benchmarks/users_sessions.py [--rows 1000000] [--scan-rows 20000]

Needs PostgreSQL's binaries (``initdb``/``pg_ctl``), as the tests do.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import django  # noqa: E402
from django.conf import settings  # noqa: E402

COOKIE = '"cookie":{"originalMaxAge":3600000,"expires":"%s","httpOnly":true,"path":"/"}'
USER = 999_999_999  # the measured user's pk (no other row has it); passport.user "user-999999999"
USER_SESSIONS = 5


def configure(directory: Path, postgres: dict) -> None:
    settings.configure(
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django_express_session",
        ],
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(directory / "db")},
            "postgres": postgres,
        },
        USE_TZ=True,
        SECRET_KEY="benchmark",
        EXPRESS_SESSION=express("database", {"alias": "postgres"}),
    )
    django.setup()


def express(backend: str, options: dict) -> dict:
    return {
        "secret": "benchmark",
        "store": {"backend": backend, "options": options},
        "passport": {"field": "username"},
    }


def use(backend: str, options: dict) -> None:
    from django_express_session import conf

    settings.EXPRESS_SESSION = express(backend, options)
    conf.reset()


def records(count: int) -> Iterator[tuple[str, str, bool]]:
    """``(sid, sess text, expired)``; the measured user's sessions are spread out."""
    future = (datetime.now(timezone.utc) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    cookie = COOKIE % future
    step = count // USER_SESSIONS
    for index in range(count):
        user = USER if index % step == step // 2 else index
        kind = index % 3 if user != USER else index % 2
        if kind == 0:
            data = f'"_auth_user_id":"{user}","passport":{{"user":"user-{user}"}}'
        elif kind == 1:
            data = f'"passport":{{"user":"user-{user}"}}'
        else:
            data = '"views":3'
        expired = index % 20 == 7 and user != USER
        yield f"sid-{index:010d}", "{" + cookie + "," + data + "}", expired


def timed(call: Callable[[], object], repeat: int) -> tuple[float, object]:
    """Median seconds of ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def user():
    from django.contrib.auth.models import User

    return User(pk=USER, username=f"user-{USER}")


def measure(label: str, count: int, *, refill: Callable[[], None]) -> None:
    from django_express_session import users

    per_call, listed = timed(lambda: users.sessions_of(user()), 20)
    assert len(listed) == USER_SESSIONS, len(listed)
    ended_in = []
    for _ in range(3):
        refill()
        started = time.perf_counter()
        ended = users.logout_everywhere(user())
        ended_in.append(time.perf_counter() - started)
        assert ended == USER_SESSIONS, ended
    print(
        f"{label:<24} {count:>10,} sessions: sessions_of {per_call * 1000:8.2f} ms, "
        f"logout_everywhere ({USER_SESSIONS} sessions) {statistics.median(ended_in) * 1000:8.2f} ms"
    )


# -- PostgreSQL ---------------------------------------------------------------------------


def postgres(count: int) -> None:
    from django.core.management import call_command
    from django.db import connections

    from django_express_session.record import loads

    connection = connections["postgres"]
    call_command("migrate", "django_express_session", "0001", database="postgres", verbosity=0)
    connection.ensure_connection()
    mine = {}
    with connection.connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        print(f"PostgreSQL {cursor.fetchone()[0]} (fsync off, throwaway cluster), Python "
              f"{sys.version.split()[0]}, Django {django.get_version()}")  # fmt: skip
        started = time.perf_counter()
        with cursor.copy('COPY "session" (sid, sess, expire) FROM STDIN') as copy:
            for sid, text, expired in records(count):
                moment = datetime.now() + timedelta(hours=-1 if expired else 1)
                copy.write_row((sid, text, moment))
                if f'"user-{USER}"' in text:
                    mine[sid] = text
        cursor.execute('ANALYZE "session"')
    connection.connection.commit()
    print(f"  filled in {time.perf_counter() - started:.1f} s")

    from django_express_session import conf

    store = conf.get_store()
    writes = [(f"w-{n}", loads(text)) for n, text in enumerate(list(mine.values()) * 400)]

    def write_rate(prefix: str) -> float:
        started = time.perf_counter()
        for sid, record in writes:
            store.set(prefix + sid, record)
        return len(writes) / (time.perf_counter() - started)

    without = write_rate("a")
    started = time.perf_counter()
    call_command("migrate", "django_express_session", database="postgres", verbosity=0)
    print(f"  migration 0002 (two indexes, CONCURRENTLY) on the full table: "
          f"{time.perf_counter() - started:.1f} s")  # fmt: skip
    with_indexes = write_rate("b")
    print(f"  writes (set, one row each): {without:,.0f}/s without the indexes, "
          f"{with_indexes:,.0f}/s with them")  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM \"session\" WHERE sid LIKE 'aw-%' OR sid LIKE 'bw-%'")
        cursor.execute(
            "SELECT pg_size_pretty(pg_relation_size('\"IDX_session_django_user\"')), "
            "pg_size_pretty(pg_relation_size('\"IDX_session_passport_user\"')), "
            "pg_size_pretty(pg_relation_size('session'))"
        )
        django_user, passport_user, table = cursor.fetchone()
        print(f"  index sizes: django_user {django_user}, passport_user {passport_user} "
              f"(table {table})")  # fmt: skip

    def refill() -> None:
        for sid, text in mine.items():
            store.set(sid, loads(text))

    measure("PostgreSQL (indexed)", count, refill=refill)


# -- the scanning stores ------------------------------------------------------------------


def filled_by_the_store(label: str, backend: str, options: dict, count: int) -> None:
    from django.db import transaction

    from django_express_session import conf
    from django_express_session.record import loads

    use(backend, options)
    store = conf.get_store()
    mine = {}
    started = time.perf_counter()
    with transaction.atomic():  # SQLite: one commit for the fill, not one per row
        for sid, text, expired in records(count):
            if expired:
                continue
            store.set(sid, loads(text))
            if f'"user-{USER}"' in text:
                mine[sid] = text
    print(f"  {label}: filled in {time.perf_counter() - started:.1f} s")

    def refill() -> None:
        for sid, text in mine.items():
            store.set(sid, loads(text))

    measure(label, count, refill=refill)


def sqlite(count: int) -> None:
    from django.core.management import call_command

    call_command("migrate", "django_express_session", database="default", verbosity=0)
    filled_by_the_store("SQLite (indexed)", "database", {"alias": "default"}, count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--scan-rows", type=int, default=20_000)
    args = parser.parse_args()

    from tests.servers.postgres import start_cluster

    cluster = start_cluster(time_zone="UTC")
    try:
        with tempfile.TemporaryDirectory() as directory:
            configure(Path(directory), cluster.django_settings())
            postgres(args.rows)
            from django.db import connections

            connections["postgres"].close()
            sqlite(args.scan_rows)
            filled_by_the_store(
                "file (scan)", "file", {"path": f"{directory}/files"}, args.scan_rows
            )
            filled_by_the_store(
                "memory (scan)", "memory", {"max": args.scan_rows * 2}, args.scan_rows
            )
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
