"""Redis round trips per request: this package's redis store against express-session
with connect-redis 9, on the same redis-server, for the same requests.

Django runs in-process (Django's test client, the real middleware and the redis store
through a django-redis alias); Express runs as ``interop/node/app.js`` (express-session
1.19, connect-redis 9, node-redis 5) on loopback. Both use the same routes and options
(``resave: false``, ``saveUninitialized: false``, ``cookie.maxAge`` one hour). The
commands each request sends are read from the server's ``MONITOR`` (commands that Lua
scripts run inside the server, and connection handshakes, are not round trips and are
left out). Every kind of request runs once before it is measured, so the server already
knows the scripts (the first use of a script on a server costs one more command).

    .venv/bin/python benchmarks/redis_round_trips.py [--repeat 3]

Needs redis-server, and node with interop/node's packages installed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from tests.servers.process import Server, free_port  # noqa: E402
from tests.servers.redis import commands_sent, redis_url, start_redis  # noqa: E402

SECRET = "round trips"
COOKIE = "connect.sid"
OPTIONS = {"secret": SECRET, "resave": False, "saveUninitialized": False,
           "cookie": {"maxAge": 3_600_000}}  # fmt: skip


@dataclass(frozen=True)
class Kind:
    """One kind of request: its path, and whether the browser already has a session."""

    label: str
    path: str
    cookie: str  # "none", "session" (a live one) or "unknown" (validly signed, not stored)


KINDS = [
    Kind("new visitor, session not modified", "/touch", "none"),
    Kind("new visitor, session modified", "/set?views=1", "none"),
    Kind("returning visitor, session not modified", "/touch", "session"),
    Kind("returning visitor, session modified", "/set?views=2", "session"),
    Kind("cookie of an unknown session", "/touch", "unknown"),
    Kind("regenerate (new id, as at login)", "/regenerate", "session"),
    Kind("destroy (logout)", "/destroy", "session"),
]


class DjangoSide:
    name = "Django (this package)"
    # The store write completes before the response leaves the middleware.
    settle = 0.0

    def __init__(self, url: str) -> None:
        os.environ["DJANGO_SETTINGS_MODULE"] = "tests.interop.settings"
        os.environ["INTEROP_EXPRESS_SESSION"] = json.dumps(
            {**OPTIONS, "store": {"backend": "redis", "options": {"alias": "sessions"}}}
        )
        os.environ["INTEROP_CACHES"] = json.dumps(
            {"sessions": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": url}}
        )
        import django

        django.setup()

    def get(self, path: str, cookie: str | None) -> str | None:
        from django.test import Client

        client = Client()
        if cookie:
            client.cookies[COOKIE] = cookie
        response = client.get(path)
        assert response.status_code == 200, response
        morsel = response.cookies.get(COOKIE)
        return morsel.value if morsel is not None and morsel.value else None

    def close(self) -> None:
        pass


class ExpressSide:
    name = "Express (connect-redis 9)"
    # express-session may write the store after the response has gone out.
    settle = 0.3

    def __init__(self, url: str, workdir: Path) -> None:
        config = {**OPTIONS, "store": {"kind": "redis", "options": {"url": url}}}
        port = free_port()
        argv = ["node", "app.js", json.dumps(config), str(port)]
        self.server = Server(argv, port, cwd=ROOT / "interop" / "node", log=workdir / "node.log")
        self.server.start()
        self.base = f"http://127.0.0.1:{port}"

    def get(self, path: str, cookie: str | None) -> str | None:
        request = urllib.request.Request(self.base + path)
        if cookie:
            request.add_header("Cookie", f"{COOKIE}={cookie}")
        with urllib.request.urlopen(request) as response:
            for header in response.headers.get_all("Set-Cookie") or []:
                name, _, rest = header.partition("=")
                if name == COOKIE:
                    return rest.split(";", 1)[0]
        return None

    def close(self) -> None:
        self.server.stop()


def unknown_session_cookie() -> str:
    from django_express_session import signing

    return signing.cookie_value("x" * 32, SECRET)


def measure(side, monitor: redis.Redis, kind: Kind) -> list[str]:
    cookie = None
    if kind.cookie == "session":
        cookie = side.get("/set?views=1", None)
        time.sleep(side.settle)
    elif kind.cookie == "unknown":
        cookie = unknown_session_cookie()
    request: Callable[[], object] = lambda: side.get(kind.path, cookie)  # noqa: E731
    return commands_sent(monitor, request, settle=side.settle)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="measurements per kind")
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        server = start_redis(workdir / "redis")
        monitor = redis.Redis(port=server.port)
        url = redis_url(server)
        sides = [DjangoSide(url), ExpressSide(url, workdir)]
        try:
            table = {}
            for side in sides:
                for kind in KINDS:
                    measure(side, monitor, kind)  # warm up: scripts, pooled connections
                for kind in KINDS:
                    runs = {tuple(measure(side, monitor, kind)) for _ in range(arguments.repeat)}
                    if len(runs) != 1:
                        raise RuntimeError(f"{side.name}, {kind.label}: unstable {runs}")
                    table[side.name, kind.label] = list(runs.pop())
        finally:
            for side in sides:
                side.close()
            monitor.close()
            server.stop()

    print_table(table, [side.name for side in sides])


def print_table(table: dict[tuple[str, str], list[str]], sides: list[str]) -> None:
    def cell(commands: list[str]) -> str:
        return f"{len(commands)}: {' + '.join(commands)}" if commands else "0"

    header = ["request", *sides]
    rows = [[kind.label, *(cell(table[side, kind.label]) for side in sides)] for kind in KINDS]
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    for row in [header, ["-" * width for width in widths], *rows]:
        print(
            "| "
            + " | ".join(text.ljust(width) for text, width in zip(row, widths, strict=True))
            + " |"
        )


if __name__ == "__main__":
    main()
