"""The server variants, and starting each one as a process group on a free loopback port.

A *variant* is what handles sessions (nothing, Django's cache engine, this package on one
store, express-session); a *row* of the table is a variant under one server kind:

* ``gunicorn``: the sync views, 2 sync worker processes (1 for the memory store, which
  lives inside one process: with 2, half the requests would reach a worker that does not
  have the session);
* ``uvicorn``: the async views, 1 process (one event loop, like Node; the stores with
  synchronous clients run in its thread pool);
* ``node``: Express 4, one process.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.servers.process import Server, free_port

from .backends import BenchmarkError

ROOT = Path(__file__).resolve().parents[2]
NODE_APP = Path(__file__).with_name("app.js")
NODE_MODULES = ROOT / "interop" / "node" / "node_modules"
SETTINGS = "benchmarks.http_load.settings"

SECRET = "http benchmark secret"
MAX_AGE_MS = 86_400_000  # one day
EXPRESS_OPTIONS = {"secret": SECRET, "resave": False, "saveUninitialized": False,
                   "cookie": {"maxAge": MAX_AGE_MS}}  # fmt: skip

KIND_LABELS = {"gunicorn": "gunicorn sync", "uvicorn": "uvicorn async", "node": "node"}


@dataclass(frozen=True)
class Variant:
    name: str  # what --only takes
    label: str
    runtime: str  # "django" or "node"
    backend: str | None = None  # the store's server: "redis", "memcached", "postgres"
    baseline: bool = False


VARIANTS = [
    Variant("none", "Django, no session middleware", "django", baseline=True),
    Variant("django-cache", "Django's cache engine (django-redis)", "django", "redis"),
    Variant("django-db", "Django's db engine (PostgreSQL)", "django", "postgres"),
    Variant("redis", "this package, redis store", "django", "redis"),
    Variant("redis-touch-after", "this package, redis store, touchAfter 1 h", "django", "redis"),
    Variant("file", "this package, file store", "django"),
    Variant("memory", "this package, memory store", "django"),
    Variant("database", "this package, database store (PostgreSQL)", "django", "postgres"),
    Variant("cache", "this package, cache store (memcached)", "django", "memcached"),
    Variant("node-none", "Express, no sessions", "node", baseline=True),
    Variant("node-redis", "express-session + connect-redis", "node", "redis"),
    Variant("node-redis-share", "express-session + connect-redis + share()", "node", "redis"),
]
BY_NAME = {variant.name: variant for variant in VARIANTS}

# Redis databases, one per variant, so no variant ever reads another's keys.
REDIS_DB = {"redis": 0, "django-cache": 1, "node-redis": 2, "node-redis-share": 3,
            "redis-touch-after": 4}  # fmt: skip
#: ``touchAfter`` of the ``redis-touch-after`` variant, in seconds: a returning visitor's
#: read touches the store at most once an hour (as connect-mongo's option does).
TOUCH_AFTER_S = 3600


@dataclass(frozen=True)
class Row:
    variant: Variant
    kind: str  # "gunicorn", "uvicorn" or "node"
    workers: int

    @property
    def server(self) -> str:
        unit = "process" if self.kind == "node" else "worker"
        return f"{KIND_LABELS[self.kind]}, {self.workers} {unit}{'s' if self.workers > 1 else ''}"

    @property
    def label(self) -> str:
        return f"{self.variant.label} ({self.server})"

    @property
    def baseline_key(self) -> tuple[str, int]:
        """Rows with the same key are compared with the same no-session server."""
        return (self.kind, self.workers)


def rows_for(variants: list[Variant], kinds: list[str]) -> list[Row]:
    """The rows to run, with the baseline each is compared against, grouped by server kind
    and worker count, each group's baseline first."""
    rows = []
    for variant in variants:
        if variant.runtime == "node":
            if "node" in kinds:
                rows.append(Row(variant, "node", 1))
            continue
        for kind in ("gunicorn", "uvicorn"):
            if kind in kinds:
                workers = 1 if kind == "uvicorn" or variant.name == "memory" else 2
                rows.append(Row(variant, kind, workers))
    needed = {row.baseline_key for row in rows if not row.variant.baseline}
    have = {row.baseline_key for row in rows if row.variant.baseline}
    for kind, workers in sorted(needed - have):
        baseline = BY_NAME["node-none" if kind == "node" else "none"]
        rows.append(Row(baseline, kind, workers))
    order = {variant.name: index for index, variant in enumerate(VARIANTS)}
    kind_order = {"gunicorn": 0, "uvicorn": 1, "node": 2}
    return sorted(rows, key=lambda r: (kind_order[r.kind], -r.workers, order[r.variant.name]))


# -- configuration of each variant ----------------------------------------------------------


def django_redis(url: str) -> dict:
    return {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": url}


def django_config(row: Row, backends: dict[str, Any], workdir: Path) -> dict:
    """``BENCH_CONFIG`` of a Django row (see ``settings.py``)."""
    name = row.variant.name
    config: dict[str, Any] = {"sessions": "express", "async": row.kind == "uvicorn"}
    if name == "none":
        config["sessions"] = "none"
    elif name == "django-cache":
        config["sessions"] = "django"
        config["caches"] = {"sessions": django_redis(backends["redis"].url(REDIS_DB[name]))}
        config["django_session_cache"] = "sessions"
    elif name == "django-db":
        config["sessions"] = "django"
        config["django_session_engine"] = "db"
        database = backends["postgres"].django_settings(persistent=row.kind == "gunicorn")
        config["databases"] = {"default": database}
    else:
        store: dict[str, Any] = {"backend": name, "options": {}}
        extra: dict[str, Any] = {}
        if name in ("redis", "redis-touch-after"):
            config["caches"] = {"sessions": django_redis(backends["redis"].url(REDIS_DB[name]))}
            store = {"backend": "redis", "options": {"alias": "sessions"}}
            if name == "redis-touch-after":
                extra["touchAfter"] = TOUCH_AFTER_S
        elif name == "file":
            # A directory per row: the gunicorn and uvicorn rows start from no files.
            store["options"] = {"path": str(workdir / f"sessions-{row.kind}")}
        elif name == "database":
            database = backends["postgres"].django_settings(persistent=row.kind == "gunicorn")
            config["databases"] = {"default": database}
            store["options"] = {"alias": "default"}
        elif name == "cache":
            location = backends["memcached"].location
            config["caches"] = {
                "sessions": {
                    "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
                    "LOCATION": location,
                }
            }
            store["options"] = {"alias": "sessions"}
        config["express_session"] = {**EXPRESS_OPTIONS, **extra, "store": store}
    return config


def node_config(row: Row, backends: dict[str, Any]) -> dict | None:
    if row.variant.name == "node-none":
        return None
    url = backends["redis"].url(REDIS_DB[row.variant.name])
    config = {**EXPRESS_OPTIONS, "store": {"kind": "redis", "options": {"url": url}}}
    if row.variant.name == "node-redis-share":
        config["share"] = {}  # the npm package's share() with its defaults
    return config


# -- processes ------------------------------------------------------------------------------


def django_environment(config: dict) -> dict[str, str]:
    return {
        **os.environ,
        "BENCH_CONFIG": json.dumps(config),
        "DJANGO_SETTINGS_MODULE": SETTINGS,
        # This checkout's package and benchmark modules, whatever is installed.
        "PYTHONPATH": str(ROOT),
    }


def migrate(config: dict, log: Path) -> None:
    """Create the session table of a database variant (the database store's, or Django's
    db engine's) by its migration, before the servers start."""
    command = [sys.executable, "-m", "django", "migrate", "--no-input"]
    done = subprocess.run(
        command, cwd=ROOT, env=django_environment(config), capture_output=True, text=True
    )
    log.write_text(done.stdout + done.stderr)
    if done.returncode:
        raise BenchmarkError(f"migrate failed:\n{tail(log)}")


def app_server(row: Row, backends: dict[str, Any], workdir: Path) -> Server:
    """The row's server, not started yet."""
    port = free_port()
    log = workdir / f"{row.variant.name}-{row.kind}-{row.workers}.log"
    if row.kind == "node":
        config = json.dumps(node_config(row, backends))
        return Server(["node", str(NODE_APP), config, str(port)], port, cwd=ROOT, log=log)
    config = django_config(row, backends, workdir)
    if row.kind == "gunicorn":
        argv = [
            sys.executable, "-m", "gunicorn",
            "--bind", f"127.0.0.1:{port}",
            "--workers", str(row.workers),
            "--worker-class", "sync",
            "--graceful-timeout", "5",
            "--log-level", "warning",
            "benchmarks.http_load.wsgi:application",
        ]  # fmt: skip
    else:
        argv = [
            sys.executable, "-m", "uvicorn",
            "--host", "127.0.0.1",
            "--port", str(port),
            "--workers", str(row.workers),
            "--lifespan", "off",  # Django has no lifespan handler
            "--no-access-log",
            "--log-level", "warning",
            "benchmarks.http_load.asgi:application",
        ]  # fmt: skip
    return Server(argv, port, cwd=ROOT, env=django_environment(config), log=log)


def start(server: Server, name: str, timeout: float = 60) -> None:
    """Start the server and wait until it answers ``/noop`` with a 200 (gunicorn listens
    before its workers have loaded Django), or stop it and fail with the end of its log."""
    try:
        server.start()
    except (RuntimeError, TimeoutError) as error:
        server.stop()
        raise BenchmarkError(f"{name} did not start: {error}\n{tail(server.log)}") from None
    deadline = time.monotonic() + timeout
    problem = "no answer"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            problem = f"exited with {server.process.returncode}"
            break
        try:
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
            connection.request("GET", "/noop")
            response = connection.getresponse()
            response.read()
            connection.close()
            if response.status == 200:
                return
            problem = f"/noop answered {response.status}"
        except OSError as error:
            problem = str(error)
        time.sleep(0.1)
    server.stop()
    raise BenchmarkError(f"{name} is not serving ({problem}):\n{tail(server.log)}")


def tail(log: Path | None, lines: int = 30) -> str:
    if log is None or not log.exists():
        return "(no log)"
    text = log.read_text(errors="replace").splitlines()[-lines:]
    return "\n".join(f"    {line}" for line in text) or "    (empty log)"
