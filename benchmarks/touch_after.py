"""Store writes saved by ``touchAfter``: writes per 1 000 unmodified requests, without
and with it, on the database (PostgreSQL), file, cache (memcached), MongoDB and Redis
stores.

Django runs in-process (the test client, the real middleware), on servers started here
on loopback. ``SESSIONS`` sessions are created first, then each gets ``ROUNDS``
requests of a view that never reads the session (``/noop``), round robin, spread over
``--seconds`` seconds, with ``cookie.maxAge`` one hour and ``resave: false``. Writes are
counted by each backend itself:

* PostgreSQL: ``pg_stat_user_tables.n_tup_upd + n_tup_ins`` of the session table;
* memcached: ``stats`` ``cmd_touch + cmd_set`` (``cas`` counts as a set);
* Redis: ``INFO commandstats`` ``set + expire`` calls (those a Lua script makes count);
* MongoDB: ``insert`` and ``update`` commands seen by a pymongo ``CommandListener``;
* files: a session file's inode changes on every write (written to a temporary file and
  renamed), looked at after each request.

    .venv/bin/python benchmarks/touch_after.py [--touch-after 1] [--seconds 6]

Needs redis-server, memcached, PostgreSQL and the MongoDB wire server of the tests
(``MONGOECO_PYTHON``, or ``MONGO_URI`` for a real MongoDB).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SESSIONS = 20
ROUNDS = 50  # SESSIONS * ROUNDS = 1 000 requests
SECRET = "keyboard cat"  # the tests' helpers sign with it


def configure(workdir: Path, pg, memcached, redis_server, mongo_uri: str) -> None:
    import django
    from django.conf import settings

    from tests.servers.memcached import pymemcache_cache
    from tests.servers.redis import redis_url

    settings.configure(
        SECRET_KEY="benchmark",
        ALLOWED_HOSTS=["testserver"],
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.messages",
            "django_express_session",
        ],
        MIDDLEWARE=["django_express_session.middleware.SessionMiddleware"],
        SESSION_ENGINE="django_express_session.session",
        ROOT_URLCONF="tests.urls",
        USE_TZ=True,
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
            "pg": pg.django_settings(),
        },
        CACHES={
            "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
            "memcached": pymemcache_cache(memcached),
            "redis": {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": redis_url(redis_server),
            },
        },
        EXPRESS_SESSION={"secret": SECRET, "store": {"backend": "memory"}},
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", database="pg", verbosity=0)


# -- the write counters -----------------------------------------------------------------


class PostgresWrites:
    def __init__(self) -> None:
        from django.db import connections

        self.connection = connections["pg"]

    def __call__(self) -> int:
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_force_next_flush()")
        time.sleep(1.2)  # statistics reach the view at most once a second
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT n_tup_upd + n_tup_ins FROM pg_stat_user_tables WHERE relname = 'session'"
            )
            return cursor.fetchone()[0]


class MemcachedWrites:
    def __init__(self, server) -> None:
        from pymemcache.client.base import Client

        self.client = Client(("127.0.0.1", server.port))

    def __call__(self) -> int:
        stats = self.client.stats()
        return int(stats[b"cmd_touch"]) + int(stats[b"cmd_set"])


class RedisWrites:
    def __init__(self, server) -> None:
        import redis

        from tests.servers.redis import redis_url

        self.client = redis.Redis.from_url(redis_url(server))

    def __call__(self) -> int:
        stats = self.client.info("commandstats")
        return sum(stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in ("set", "expire"))


class MongoWrites:
    """A pymongo command listener: the store's clients are built with it."""

    def __init__(self) -> None:
        from pymongo import monitoring

        counter = self

        class Listener(monitoring.CommandListener):
            def started(self, event):
                if event.command_name in ("insert", "update"):
                    counter.count += 1

            def succeeded(self, event):
                pass

            def failed(self, event):
                pass

        self.count = 0
        self.listener = Listener()

    def __call__(self) -> int:
        return self.count


class FileWrites:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.inodes: dict[str, int] = {}
        self.count = 0

    def saw(self, sid: str) -> None:
        try:
            inode = (self.path / f"{sid}.json").stat().st_ino
        except FileNotFoundError:
            return
        if self.inodes.get(sid, inode) != inode:
            self.count += 1
        self.inodes[sid] = inode

    def __call__(self) -> int:
        return self.count


# -- one run ----------------------------------------------------------------------------


def run(store: dict, writes, touch_after: float | None, seconds: float) -> int:
    from django.test import Client
    from django.test.utils import override_settings

    from tests.helpers import cookie_header, set_cookie, sid_of

    options = {
        "secret": SECRET,
        "resave": False,
        "saveUninitialized": False,
        "cookie": {"maxAge": 3_600_000},
        "store": store,
    }
    if touch_after is not None:
        options["touchAfter"] = touch_after
    with override_settings(EXPRESS_SESSION=options):
        client = Client()
        sids = [sid_of(set_cookie(Client().get("/set", {"v": str(n)}))) for n in range(SESSIONS)]
        assert len(set(sids)) == SESSIONS
        headers = [cookie_header(sid) for sid in sids]
        for sid in sids:
            if isinstance(writes, FileWrites):
                writes.saw(sid)
        before = writes()
        pause = seconds / (SESSIONS * ROUNDS)
        started = time.monotonic()
        for _ in range(ROUNDS):
            for sid, header in zip(sids, headers, strict=True):
                assert client.get("/noop", HTTP_COOKIE=header).status_code == 200
                if isinstance(writes, FileWrites):
                    writes.saw(sid)
                time.sleep(pause)
        took = time.monotonic() - started
        return writes() - before, took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--touch-after", type=float, default=1.0, help="seconds")
    parser.add_argument("--seconds", type=float, default=6.0, help="length of each run")
    arguments = parser.parse_args()

    from tests.servers.memcached import start_memcached
    from tests.servers.mongodb import mongoeco_server, mongoeco_uri
    from tests.servers.postgres import start_cluster
    from tests.servers.redis import start_redis

    workdir = Path(tempfile.mkdtemp(prefix="touch-after-"))
    pg = start_cluster()
    memcached = start_memcached()
    redis_server = start_redis(workdir / "redis")
    mongo = None
    mongo_uri = os.environ.get("MONGO_URI")
    if not mongo_uri:
        mongo = mongoeco_server(workdir / "mongo.log").start()
        mongo_uri = mongoeco_uri(mongo)
    try:
        configure(workdir, pg, memcached, redis_server, mongo_uri)
        mongo_writes = MongoWrites()
        stores = [
            ("database (PostgreSQL)", {"backend": "database", "options": {"alias": "pg"}},
             PostgresWrites()),
            ("file", {"backend": "file", "options": {"path": str(workdir / "files")}},
             FileWrites(workdir / "files")),
            ("cache (memcached)", {"backend": "cache", "options": {"alias": "memcached"}},
             MemcachedWrites(memcached)),
            ("mongodb", {"backend": "mongodb", "options": {
                "mongoUrl": mongo_uri, "dbName": "touch_after",
                "mongoOptions": {"event_listeners": [mongo_writes.listener]}}},
             mongo_writes),
            ("redis", {"backend": "redis", "options": {"alias": "redis"}},
             RedisWrites(redis_server)),
        ]  # fmt: skip
        requests = SESSIONS * ROUNDS
        print(
            f"{requests} unmodified requests ({SESSIONS} sessions x {ROUNDS}) over "
            f"{arguments.seconds:g} s, maxAge 1 h; touchAfter {arguments.touch_after:g} s\n"
        )
        print(f"{'store':<24}{'writes without':>16}{'with touchAfter':>17}{'saved':>8}")
        for label, store, writes in stores:
            without, _ = run(store, writes, None, arguments.seconds)
            with_it, took = run(store, writes, arguments.touch_after, arguments.seconds)
            per = 1000 / requests
            saved = 1 - with_it / without if without else 0
            print(
                f"{label:<24}{without * per:>16.0f}{with_it * per:>17.0f}{saved:>8.0%}"
                f"   (run of {took:.1f} s)"
            )
    finally:
        from django.db import connections

        connections.close_all()
        pg.stop()
        memcached.stop()
        redis_server.stop()
        if mongo is not None:
            mongo.stop()


if __name__ == "__main__":
    main()
