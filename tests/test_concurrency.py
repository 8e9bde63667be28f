"""Concurrent requests of one session lose nothing, on every store.

Each run starts a real multi-worker server (gunicorn: 2 processes x 10 threads, and
uvicorn: 2 processes, for the middleware's sync and async paths) on the store under test and fires 20 requests at once with the same cookie, each adding a key of
its own; the session read back at the end must hold every key. The memory store (and a
locmem cache) lives in one process, so for it the server is one process.

``benchmarks/lost_updates.py`` runs the same race against Django's own engines and
express-session, which lose most of these keys.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.concurrency.driver import cookie_of, get, race
from tests.concurrency.servers import gunicorn_server, uvicorn_server
from tests.helpers import merge

REQUESTS = 20


def in_one_process(store_settings: dict, caches: dict) -> bool:
    """Stores that live in the server's memory cannot be shared by worker processes."""
    if store_settings["backend"] == "memory":
        return True
    alias = store_settings.get("options", {}).get("alias", "default")
    return "locmem" in caches.get(alias, {}).get("BACKEND", "").lower()


def race_settings(settings, store_settings: dict, directory: Path) -> dict:
    """What the server needs to reach the same store as this test. An SQLite test
    database lives in this process's memory, so the server gets an SQLite file instead."""
    databases = {alias: dict(db) for alias, db in settings.DATABASES.items()}
    for alias, db in databases.items():
        if db.get("ENGINE", "").endswith("sqlite3"):
            db["NAME"] = str(directory / f"{alias}.sqlite3")
        db.pop("TEST", None)
    return {
        "EXPRESS_SESSION": {
            "secret": "race secret",
            "resave": False,
            "saveUninitialized": False,
            "store": store_settings,
        },
        "CACHES": settings.CACHES,
        "DATABASES": databases,
    }


def migrate(server) -> None:
    """Create the session table in the server's database, as a deployment would."""
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--no-input", "django_express_session"],
        cwd=server.cwd,
        env=server.env,
        check=True,
        capture_output=True,
        timeout=120,
    )


@pytest.fixture(params=["wsgi", "asgi"])
def race_server(request, settings, store_settings, tmp_path):
    """gunicorn (2 x 10 threads: the middleware's sync path) or uvicorn (2 processes:
    its async path), one process for stores that live in memory."""
    workers = 1 if in_one_process(store_settings, settings.CACHES) else 2
    race = race_settings(settings, store_settings, tmp_path)
    log = tmp_path / "server.log"
    if request.param == "asgi":
        server = uvicorn_server("tests.concurrency.settings", race, log, workers=workers)
    else:
        threads = REQUESTS // workers
        server = gunicorn_server(
            "tests.concurrency.settings", race, log, workers=workers, threads=threads
        )
    if store_settings["backend"] == "database":
        migrate(server)
    server.start()
    yield server
    server.stop()


@pytest.mark.slow
def test_parallel_requests_of_one_session_keep_every_key(race_server):
    result = race(race_server.port, REQUESTS)

    log = race_server.log.read_text(errors="replace")[-3000:]
    assert result.statuses == {200: REQUESTS}, log
    assert result.missing == []
    assert result.found == REQUESTS


def test_a_session_destroyed_meanwhile_is_not_brought_back_by_a_save(race_server, tmp_path):
    port = race_server.port
    cookie = cookie_of(get(port, "/set?started=yes"))
    loaded = tmp_path / "loaded"
    slow: list = []
    path = f"/set-after-destroy?loaded={loaded}"
    writer = threading.Thread(target=lambda: slow.append(get(port, path, cookie)))
    writer.start()
    while not loaded.exists() and writer.is_alive():
        time.sleep(0.01)

    assert get(port, "/destroy", cookie).status == 200
    writer.join()

    assert slow[0].status == 400, "SessionInterrupted, as Django"
    assert slow[0].headers.get_all("Set-Cookie") is None
    assert json.loads(get(port, "/session", cookie).body)["data"] == {}, "not brought back"


# -- the cache store on Django caches without a compare-and-set ---------------------------


def update_from_threads(store, sid: str, writers: int) -> dict:
    from django_express_session.record import Changes

    store.create(sid, {"cookie": {"originalMaxAge": None}})
    barrier = threading.Barrier(writers)

    def write(index: int) -> None:
        barrier.wait()
        merge(store, sid, Changes({"originalMaxAge": None}, {f"k{index}": index}))

    threads = [threading.Thread(target=write, args=(index,)) for index in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return store.get(sid)


# (Caches that pickle, such as the file-based one, are refused by the store.)
@pytest.mark.parametrize("backend", ["django.core.cache.backends.locmem.LocMemCache"])
def test_the_cache_store_keeps_every_key_on_local_memory(backend, settings, tmp_path):
    from django_express_session.stores.cache import CacheStore

    settings.CACHES = {**settings.CACHES, "race": {"BACKEND": backend, "LOCATION": str(tmp_path)}}
    store = CacheStore.from_options({"alias": "race"})

    stored = update_from_threads(store, "one-session", writers=50)

    assert sorted(key for key in stored if key != "cookie") == sorted(f"k{i}" for i in range(50))
