"""Start the race's servers: gunicorn (WSGI) or uvicorn (ASGI) serving Django, or node
serving express-session."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from tests.servers.process import Server, free_port

ROOT = Path(__file__).resolve().parents[2]
EXPRESS_RACE = Path(__file__).with_name("express_race.js")


def gunicorn_server(
    settings_module: str,
    race_settings: dict[str, Any],
    log: Path,
    *,
    workers: int = 2,
    threads: int = 10,
    extra_env: dict[str, str] | None = None,
) -> Server:
    """gunicorn with ``workers`` processes of ``threads`` threads each (not started)."""
    port = free_port()
    argv = [
        sys.executable, "-m", "gunicorn",
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers),
        "--threads", str(threads),
        "--worker-class", "gthread",
        "--backlog", "256",
        "testproject.wsgi:application",
    ]  # fmt: skip
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "RACE_SETTINGS": json.dumps(race_settings),
        "PYTHONPATH": str(ROOT),
        **(extra_env or {}),
    }
    return Server(argv, port, cwd=ROOT, env=env, log=log)


def uvicorn_server(
    settings_module: str, race_settings: dict[str, Any], log: Path, *, workers: int = 2
) -> Server:
    """uvicorn (ASGI: the middleware's async path) with ``workers`` processes."""
    port = free_port()
    argv = [
        sys.executable, "-m", "uvicorn",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--workers", str(workers),
        "--no-access-log",
        "testproject.asgi:application",
    ]  # fmt: skip
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "RACE_SETTINGS": json.dumps(race_settings),
        "PYTHONPATH": str(ROOT),
    }
    return Server(argv, port, cwd=ROOT, env=env, log=log)


def express_server(config: dict[str, Any], log: Path, node: str = "node") -> Server:
    """Express 4 + express-session (``express_race.js``) with ``config`` (not started)."""
    port = free_port()
    argv = [node, str(EXPRESS_RACE), json.dumps(config), str(port)]
    return Server(argv, port, cwd=ROOT, log=log)
