"""Lost updates: how many of N concurrent writes to one session survive.

Each contender is a real server: Django under gunicorn (2 processes x 10 threads) with
this package's stores, Django under gunicorn with its own session engines, and Express 4
with express-session (node, one process, async I/O) on each express store, stock and
wrapped with ``share()`` of this repository's npm package (``node/``). Each round starts a session, fires
``--requests`` requests at once with its cookie, each adding a key of its own after
10 ms of "work" (the same in the Django view and the Express route), and reads the
session back. Printed: keys written
(2xx answers), keys found at the end, and the loss.

    .venv/bin/python benchmarks/lost_updates.py [--rounds 5] [--requests 20]

Needs redis-server, memcached, PostgreSQL's binaries, mongoeco's Python
(``.venv-mongoeco``) and node (with interop/node's packages installed): ``scripts/test``
installs them all.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.concurrency.driver import RaceResult, race  # noqa: E402
from tests.concurrency.servers import express_server, gunicorn_server  # noqa: E402
from tests.servers.memcached import pymemcache_cache, start_memcached  # noqa: E402
from tests.servers.mongodb import mongoeco_server, mongoeco_uri  # noqa: E402
from tests.servers.postgres import Cluster, start_cluster  # noqa: E402
from tests.servers.process import Server  # noqa: E402
from tests.servers.redis import redis_url, start_redis  # noqa: E402

SECRET = "lost updates"
LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}


def ours(store: dict, **extra: object) -> dict:
    return {
        "EXPRESS_SESSION": {
            "secret": SECRET,
            "resave": False,
            "saveUninitialized": False,
            "store": store,
        },
        **extra,
    }


def sqlite(path: Path) -> dict:
    return {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path)}}


def django_redis(url: str) -> dict:
    return {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": url}


def migrate(server: Server, app: str) -> None:
    command = [sys.executable, "-m", "django", "migrate", "--no-input", app]
    subprocess.run(command, cwd=server.cwd, env=server.env, check=True, capture_output=True)


@contextmanager
def running(server: Server) -> Iterator[Server]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


def express_stores(
    work: Path, redis: Server, memcached: Server, postgres: Cluster, mongodb: Server
) -> dict[str, Callable[[str], dict]]:
    """Each express store's factory spec (``interop/node/stores/``) by package name, on a
    part of its server of its own (``part``: "stock" or "share")."""
    redis_db = {"stock": 2, "share": 3}
    return {
        "connect-redis": lambda part: {
            "kind": "redis", "options": {"url": redis_url(redis, redis_db[part])}
        },
        # One table for both parts: connect-pg-simple names its key "session_pkey" whatever
        # the table, so a second table fails (each race starts sessions of its own anyway).
        "connect-pg-simple": lambda part: {
            "kind": "pg",
            "options": {"connectionString": postgres.url, "createTableIfMissing": True},
        },
        "connect-mongo": lambda part: {
            "kind": "mongo", "options": {"mongoUrl": mongoeco_uri(mongodb), "dbName": part}
        },
        "session-file-store": lambda part: {
            "kind": "file", "options": {"path": str(work / f"express-files-{part}")}
        },
        "connect-memcached": lambda part: {
            "kind": "memcached",
            "options": {"hosts": f"127.0.0.1:{memcached.port}", "prefix": f"{part}:"},
        },
    }  # fmt: skip


def contenders(
    work: Path, redis: Server, memcached: Server, postgres: Cluster, mongodb: Server
) -> list[tuple[str, Callable[[], Server]]]:
    """(name, factory of a not-yet-started server) for each contender."""
    ours_url, django_url = (redis_url(redis, db) for db in (0, 1))

    def ours_server(name: str, settings: dict) -> Server:
        return gunicorn_server("tests.concurrency.settings", settings, work / f"{name}.log")

    def ours_database() -> Server:
        settings = ours({"backend": "database", "options": {}}, DATABASES=sqlite(work / "o.db"))
        server = ours_server("ours-database", settings)
        migrate(server, "django_express_session")
        return server

    def django_server(engine: str, settings: dict) -> Server:
        return gunicorn_server(
            "tests.concurrency.django_settings",
            settings,
            work / f"django-{engine}.log",
            extra_env={"RACE_SESSION_ENGINE": engine},
        )

    def django_db() -> Server:
        server = django_server("db", {"DATABASES": sqlite(work / "django.db")})
        migrate(server, "sessions")
        return server

    def express(store: dict | None, share: bool = False) -> Server:
        config: dict = {"secret": SECRET, "resave": False, "saveUninitialized": False}
        if store:
            config["store"] = store
        if share:
            config["share"] = {}
        return express_server(config, work / "express.log")

    stores = express_stores(work, redis, memcached, postgres, mongodb)
    on_express = [
        row
        for package, spec in stores.items()
        for row in (
            (f"express-session + {package}", lambda spec=spec: express(spec("stock"))),
            (f"express-session + {package} + share()",
             lambda spec=spec: express(spec("share"), share=True)),
        )
    ]  # fmt: skip

    return [
        ("ours: file store", lambda: ours_server(
            "ours-file", ours({"backend": "file", "options": {"path": str(work / "ours-files")}})
        )),
        ("ours: redis store", lambda: ours_server(
            "ours-redis",
            ours({"backend": "redis", "options": {"alias": "sessions"}},
                 CACHES={"default": LOCMEM, "sessions": django_redis(ours_url)}),
        )),
        ("ours: database store (SQLite)", ours_database),
        ("ours: cache store (memcached)", lambda: ours_server(
            "ours-memcached",
            ours({"backend": "cache", "options": {"alias": "sessions"}},
                 CACHES={"default": LOCMEM, "sessions": pymemcache_cache(memcached)}),
        )),
        ("Django: db engine (SQLite)", django_db),
        ("Django: cache engine (django-redis)", lambda: django_server(
            "cache", {"CACHES": {"default": django_redis(django_url)}}
        )),
        ("Django: file engine", lambda: django_server(
            "file", {"SESSION_FILE_PATH": str(work / "django-files")}
        )),
        *on_express,
        ("express-session + MemoryStore", lambda: express(None)),
    ]  # fmt: skip


def total(results: list[RaceResult]) -> tuple[int, int]:
    return sum(r.written for r in results), sum(r.found for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="lost-updates-") as directory:
        work = Path(directory)
        (work / "django-files").mkdir()
        redis = start_redis(work / "redis")
        memcached = start_memcached()
        postgres = start_cluster()
        mongodb = mongoeco_server(work / "mongoeco.log").start()
        try:
            print(
                f"{args.rounds} rounds of {args.requests} concurrent requests, one session each\n"
            )
            print("| server | keys written | keys found | lost |")
            print("|---|---:|---:|---:|")
            for name, factory in contenders(work, redis, memcached, postgres, mongodb):
                with running(factory()) as server:
                    results = [race(server.port, args.requests) for _ in range(args.rounds)]
                written, found = total(results)
                loss = 100.0 * (written - found) / written if written else 0.0
                print(f"| {name} | {written} | {found} | {written - found} ({loss:.0f} %) |")
        finally:
            for server in (redis, memcached, postgres, mongodb):
                server.stop()


if __name__ == "__main__":
    main()
