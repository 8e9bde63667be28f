"""``users.sessions_of`` and ``users.logout_everywhere`` among 1,000,000 stored sessions,
on Redis and on PostgreSQL.

A throwaway server of each (started as the tests start them) is filled with
``--sessions`` records in the express stores' layouts, written straight into the
backend as a Node app would write them (connect-redis keys, connect-pg-simple rows):
``--per-user`` logged-in sessions for each of ``sessions / per-user`` users, every
second user logged in through passport only (``passport.user``, no Django keys, as
the Express app writes it). Printed per store: how long the fill took, how long
``reindexsessions`` (``store.reindex()``) takes over all of them where the store
keeps an index, then ``sessions_of`` (median and worst of ``--samples`` users) and
``logout_everywhere`` (each on a different user), and the check that every listed
session belonged to the user and every ended one is gone.

    .venv/bin/python benchmarks/sessions_of_a_user.py [--sessions 1000000] [--stores redis,postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.servers import postgres  # noqa: E402
from tests.servers.redis import redis_url, start_redis  # noqa: E402

SECRET = "benchmark secret"
MAX_AGE_MS = 14 * 24 * 3600 * 1000
BATCH = 10_000


def record_of(user: int, expires: datetime) -> dict[str, Any]:
    """What a login leaves in the record: Django's keys for even users, passport's for
    odd ones (an Express login the Django app has not seen yet)."""
    cookie = {
        "originalMaxAge": MAX_AGE_MS,
        "expires": expires.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "httpOnly": True,
        "path": "/",
    }
    if user % 2:
        return {"cookie": cookie, "passport": {"user": user}}
    return {
        "cookie": cookie,
        "_auth_user_id": str(user),
        "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
        "_auth_user_hash": "0" * 64,
    }


def layout(total: int, per_user: int) -> list[tuple[str, int]]:
    """(sid, user) for every record, users' sessions spread over the key space."""
    rows = [(f"{random.getrandbits(64):016x}{n:07d}", n % (total // per_user))
            for n in range(total)]  # fmt: skip
    random.shuffle(rows)
    return rows


def fill_redis(client: Any, rows: list[tuple[str, int]]) -> None:
    expires = datetime.now(timezone.utc) + timedelta(milliseconds=MAX_AGE_MS)
    ttl = MAX_AGE_MS // 1000
    for start in range(0, len(rows), BATCH):
        pipe = client.pipeline(transaction=False)
        for sid, user in rows[start : start + BATCH]:
            pipe.set(f"sess:{sid}", json.dumps(record_of(user, expires)), ex=ttl)
        pipe.execute()


def fill_postgres(rows: list[tuple[str, int]]) -> None:
    from django.db import connection

    expires = datetime.now(timezone.utc) + timedelta(milliseconds=MAX_AGE_MS)
    with (
        connection.cursor() as cursor,
        cursor.connection.cursor().copy('COPY "session" (sid, sess, expire) FROM STDIN') as copy,
    ):
        for sid, user in rows:
            copy.write_row((sid, json.dumps(record_of(user, expires)), expires))
    with connection.cursor() as cursor:
        cursor.execute('ANALYZE "session"')


def configure(database: dict[str, Any] | None, cache_location: str | None) -> None:
    from django.conf import settings

    store: dict[str, Any]
    if cache_location is not None:
        store = {"backend": "redis", "options": {"alias": "sessions"}}
    else:
        store = {"backend": "database", "options": {}}
    settings.configure(
        SECRET_KEY="benchmark",
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "django_express_session",
        ],
        DATABASES={"default": database or {"ENGINE": "django.db.backends.sqlite3",
                                           "NAME": ":memory:"}},
        CACHES={
            "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
            **({"sessions": {"BACKEND": "django_redis.cache.RedisCache",
                             "LOCATION": cache_location}} if cache_location else {}),
        },
        EXPRESS_SESSION={
            "secret": SECRET,
            "resave": False,
            "saveUninitialized": False,
            "cookie": {"maxAge": MAX_AGE_MS},
            "passport": {"field": "pk"},
            "store": store,
        },
        USE_TZ=True,
    )  # fmt: skip
    import django

    django.setup()


def timed(call: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call(*args)
    return time.perf_counter() - started, result


def report(label: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    return f"{label}: median {statistics.median(ms):.2f} ms, worst {ms[-1]:.2f} ms"


def measure(rows: list[tuple[str, int]], per_user: int, samples: int, endings: int) -> None:
    from django_express_session import conf, users

    store = conf.get_store()
    seconds, changed = timed(store.reindex)
    if changed is None:
        print("  reindex: this store keeps no index that can drift (nothing to do)")
    else:
        print(f"  reindex over every record: {seconds:.1f} s, {changed:,} index entries added")

    owners = sorted({user for _, user in rows})
    chosen = random.sample(owners, samples + endings)
    expected = {}
    for sid, user in rows:
        expected.setdefault(user, set()).add(sid)

    listing, wrong = [], 0
    for user in chosen[:samples]:
        seconds, listed = timed(users.sessions_of, SimpleNamespace(pk=user))
        listing.append(seconds)
        wrong += len(listed) != per_user or any(
            not any(sid.startswith(s.hint.rstrip("…")) for sid in expected[user]) for s in listed
        )
    print("  " + report(f"sessions_of ({per_user} sessions each, {samples} users)", listing))

    ending, left = [], 0
    for user in chosen[samples:]:
        seconds, ended = timed(users.logout_everywhere, SimpleNamespace(pk=user))
        ending.append(seconds)
        wrong += ended != per_user
        left += sum(store.read(sid) is not None for sid in expected[user])
    print("  " + report(f"logout_everywhere ({endings} users)", ending))
    print(f"  check: {wrong} wrong listings or counts, {left} ended sessions still stored")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--per-user", type=int, default=5)
    parser.add_argument("--samples", type=int, default=20, help="users listed")
    parser.add_argument(
        "--endings", type=int, default=3, help="users logged out (a scan each on Redis)"
    )
    parser.add_argument("--stores", default="redis,postgres")
    arguments = parser.parse_args()
    stores = arguments.stores.split(",")
    if len(stores) != 1:
        # Django is configured once per process: one store per child process.
        for store in stores:
            os.spawnv(os.P_WAIT, sys.executable, [sys.executable, __file__, "--stores", store,
                      "--sessions", str(arguments.sessions), "--per-user",
                      str(arguments.per_user), "--samples", str(arguments.samples),
                      "--endings", str(arguments.endings)])  # fmt: skip
        return

    random.seed(7)
    rows = layout(arguments.sessions, arguments.per_user)
    workdir = Path(tempfile.mkdtemp(prefix="sessions-of-a-user-"))
    print(f"{stores[0]}: {arguments.sessions:,} sessions, {arguments.per_user} per user")
    if stores[0] == "redis":
        import redis

        server = start_redis(workdir)
        try:
            configure(None, redis_url(server))
            seconds, _ = timed(lambda: fill_redis(redis.Redis.from_url(redis_url(server)), rows))
            print(f"  filled in {seconds:.1f} s")
            measure(rows, arguments.per_user, arguments.samples, arguments.endings)
        finally:
            server.stop()
    elif stores[0] == "postgres":
        cluster = postgres.start_cluster()
        try:
            configure(cluster.django_settings(), None)
            from django.core.management import call_command

            call_command("migrate", verbosity=0)
            seconds, _ = timed(lambda: fill_postgres(rows))
            print(f"  filled in {seconds:.1f} s")
            measure(rows, arguments.per_user, arguments.samples, arguments.endings)
        finally:
            cluster.stop()
    else:
        parser.error(f"unknown store {stores[0]!r}: redis or postgres")


if __name__ == "__main__":
    main()
