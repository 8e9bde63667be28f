"""``manage.py migratesessions`` on 100,000 stored sessions of Django's ``db`` engine,
while the site keeps serving traffic.

The project of ``tests/migration`` (switched to this package, ``migrateFrom`` the ``db``
engine, the database store) runs under gunicorn on PostgreSQL (a throwaway cluster, as
the tests start it) or SQLite (``--sqlite``, WAL mode). ``--sessions`` old sessions, each
logged in as one of a few users, are written into ``django_session``. Then the command
runs in a subprocess while a thread keeps sending requests: with old cookies of sessions
not converted yet (so requests and the command convert the same sessions at the same
time) and with an express cookie. Printed: the command's time and rate, its summary,
how many requests were served meanwhile and how long they took, and the check that
every old session ended as exactly one express record.

    .venv/bin/python benchmarks/migratesessions.py [--sessions 100000] [--sqlite]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.concurrency.driver import cookie_of, get  # noqa: E402
from tests.concurrency.servers import gunicorn_server  # noqa: E402
from tests.servers import postgres  # noqa: E402

ENGINE = "django.contrib.sessions.backends.db"
NEW = "tests.migration.new_settings"
USERS = 20


class Traffic(threading.Thread):
    """Requests in a loop: an old cookie (converted by the request if the command has
    not reached it yet), then an express cookie; statuses and latencies recorded."""

    def __init__(self, port: int, old_keys: list[str], express_cookie: str) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.old_keys = old_keys
        self.express_cookie = express_cookie
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.anonymous = 0
        self.running = True

    def run(self) -> None:
        while self.running:
            for cookie in (f"sessionid={random.choice(self.old_keys)}", self.express_cookie):
                started = time.perf_counter()
                response = get(self.port, "/whoami", cookie)
                self.latencies.append(time.perf_counter() - started)
                self.statuses[response.status] = self.statuses.get(response.status, 0) + 1
                self.anonymous += response.body == b"anonymous"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--sqlite", action="store_true", help="SQLite (WAL) instead of PostgreSQL")
    arguments = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="migratesessions-"))
    cluster = None
    if arguments.sqlite:
        database = {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(workdir / "db.sqlite3"),
            "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL", "timeout": 30},
        }
        label = "SQLite (WAL)"
    else:
        cluster = postgres.start_cluster()
        database = cluster.django_settings()
        label = "PostgreSQL"
    express = {
        "secret": "benchmark secret",
        "resave": False,
        "saveUninitialized": False,
        "cookie": {"maxAge": 14 * 24 * 3600 * 1000},
        "migrateFrom": {"engine": ENGINE},
        "store": {"backend": "database", "options": {}},
    }
    race = {"DATABASES": {"default": database}, "EXPRESS_SESSION": express}
    os.environ["RACE_SETTINGS"] = json.dumps(race)
    os.environ["DJANGO_SETTINGS_MODULE"] = NEW
    server = None
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        old_keys = fill(arguments.sessions)

        server = gunicorn_server(NEW, race, workdir / "gunicorn.log", workers=1, threads=8)
        server.env["PYTHONPATH"] = str(ROOT)
        server.start()
        express_cookie = cookie_of(get(server.port, "/whoami", f"sessionid={old_keys[0]}"))
        express_cookie = "; ".join(p for p in express_cookie.split("; ") if p.startswith("connect"))
        traffic = Traffic(server.port, old_keys[1:], express_cookie)
        traffic.start()
        time.sleep(1)
        before = sum(traffic.statuses.values())

        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "django", "migratesessions", "--batch-size",
             str(arguments.batch_size)],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        seconds = time.perf_counter() - started
        during = sum(traffic.statuses.values()) - before
        traffic.running = False
        traffic.join(30)

        express_rows, old_rows = count_rows()
        latencies = sorted(traffic.latencies)
        print(f"{label}: {arguments.sessions:,} old sessions, batches of {arguments.batch_size:,}")
        print(f"migratesessions: {seconds:.1f} s ({arguments.sessions / seconds:,.0f} sessions/s)")
        print("  " + done.stdout.strip().replace("\n", "\n  "))
        print(
            f"traffic during the run: {during:,} requests served ({during / seconds:,.0f}/s), "
            f"statuses {traffic.statuses}, logged out: {traffic.anonymous}"
        )
        print(
            f"  latency p50 {statistics.median(latencies) * 1000:.1f} ms, "
            f"p99 {latencies[int(len(latencies) * 0.99)] * 1000:.1f} ms, "
            f"max {latencies[-1] * 1000:.1f} ms"
        )
        print(
            f"after: {express_rows:,} express records, {old_rows:,} old rows left "
            f"({'one record per old session' if express_rows == arguments.sessions else 'MISMATCH'})"
        )
    finally:
        if server is not None:
            server.stop()
        if cluster is not None:
            cluster.stop()


def fill(count: int) -> list[str]:
    """``count`` sessions in ``django_session`` as Django's login() leaves them."""
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    users = [User.objects.get_or_create(username=f"user{n}")[0] for n in range(USERS)]
    encoder = SessionStore()
    expire = timezone.now() + timezone.timedelta(days=14)
    keys = []
    batch = []
    for index in range(count):
        user = users[index % USERS]
        key = get_random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789")
        data = {
            "_auth_user_id": str(user.pk),
            "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
            "_auth_user_hash": user.get_session_auth_hash(),
            "_csrftoken": get_random_string(32),
        }
        batch.append(
            Session(session_key=key, session_data=encoder.encode(data), expire_date=expire)
        )
        keys.append(key)
        if len(batch) == 5000:
            Session.objects.bulk_create(batch)
            batch = []
    Session.objects.bulk_create(batch)
    return keys


def count_rows() -> tuple[int, int]:
    from django.contrib.sessions.models import Session
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute('SELECT COUNT(*) FROM "session"')
        (express_rows,) = cursor.fetchone()
    return express_rows, Session.objects.count()


if __name__ == "__main__":
    main()
