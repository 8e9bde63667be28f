"""A store that goes down mid-traffic logs nobody out.

Each test runs a store server of its own (a real redis-server, PostgreSQL, memcached or
MongoDB wire server) and Django under gunicorn (WSGI) or uvicorn (ASGI), creates a session, then stops the store
server while a browser keeps sending requests, and starts it again on the same port,
without restarting Django:

* while it is down, requests that need the session get a 503 with ``Retry-After`` and a
  clear message, Django's log says why, and no response deletes the cookie;
* once it is back, the same cookie finds the same session, by itself.

Redis (with an append-only file), PostgreSQL and MongoDB (on SQLite) keep what was
written across the restart. memcached keeps nothing across a restart (that is
memcached), so for it the test checks the 503s and the recovery, not the data.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from tests.concurrency.driver import cookie_of, get
from tests.concurrency.servers import gunicorn_server, uvicorn_server
from tests.servers import memcached as memcached_servers
from tests.servers import mongodb as mongodb_servers
from tests.servers import postgres as postgres_servers
from tests.servers.process import Server
from tests.servers.redis import redis_url, start_redis

pytestmark = pytest.mark.slow

LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}


@dataclass
class Outage:
    """A store server of this test alone, and the settings that make Django use it."""

    store: dict
    stop: Callable[[], None]
    start: Callable[[], None]
    caches: dict = field(default_factory=dict)
    databases: dict = field(default_factory=dict)
    #: Whether the server keeps its data across a stop and start.
    durable: bool = True


@pytest.fixture
def redis_outage(tmp_path) -> Iterator[Outage]:
    # An append-only file synced on every write: a restarted server has every session.
    server = start_redis(tmp_path / "redis", "--appendonly", "yes", "--appendfsync", "always")
    cache = {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": redis_url(server)}
    store = {"backend": "redis", "options": {"alias": "outage"}}
    yield Outage(store, server.stop, server.start, caches={"outage": cache})
    server.stop()


@pytest.fixture
def memcached_outage() -> Iterator[Outage]:
    server = memcached_servers.start_memcached()
    cache = memcached_servers.pymemcache_cache(server)
    store = {"backend": "cache", "options": {"alias": "outage"}}
    yield Outage(store, server.stop, server.start, caches={"outage": cache}, durable=False)
    server.stop()


@pytest.fixture
def mongodb_outage(tmp_path) -> Iterator[Outage]:
    plain = mongodb_servers.mongoeco_server(tmp_path / "mongoeco.log")
    # Documents in an SQLite file, so they outlive the server process.
    argv = [*plain.argv, str(tmp_path / "mongo.sqlite3")]
    server = Server(argv, plain.port, cwd=plain.cwd, log=plain.log).start()
    url = mongodb_servers.mongoeco_uri(server) + "&serverSelectionTimeoutMS=500"
    store = {"backend": "mongodb", "options": {"mongoUrl": url, "dbName": "outage"}}
    yield Outage(store, server.stop, server.start)
    server.stop()


@pytest.fixture
def postgres_outage() -> Iterator[Outage]:
    cluster = postgres_servers.start_cluster()
    directory = cluster.directory
    options = (
        f"-p {cluster.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={directory}"
    )

    def stop() -> None:
        cluster.pg_ctl("-m", "fast", "-w", "stop")  # clients are cut off, data is kept

    def start() -> None:
        cluster.pg_ctl("-o", options, "-l", str(directory / "server.log"), "-w", "start")

    store = {"backend": "database", "options": {"alias": "outage"}}
    yield Outage(store, stop, start, databases={"outage": cluster.django_settings()})
    cluster.stop()


OUTAGES = ["redis_outage", "postgres_outage", "memcached_outage", "mongodb_outage"]


@pytest.fixture(params=OUTAGES)
def outage(request) -> Outage:
    return request.getfixturevalue(request.param)


@pytest.fixture
def django_server(outage, tmp_path) -> Iterator[Callable[..., Server]]:
    """Start Django (gunicorn, one process) on the outage's store with these options."""
    servers: list[Server] = []

    def start(protocol: str = "wsgi", **options) -> Server:
        settings = {
            "EXPRESS_SESSION": {
                "secret": "keyboard cat",
                "resave": False,
                "saveUninitialized": False,
                "store": outage.store,
                **options,
            },
            "CACHES": {"default": LOCMEM, **outage.caches},
            "DATABASES": {
                "default": {
                    "ENGINE": "django.db.backends.sqlite3",
                    "NAME": str(tmp_path / "default.sqlite3"),
                },
                **outage.databases,
            },
        }
        log = tmp_path / "django.log"
        if protocol == "asgi":
            server = uvicorn_server("tests.concurrency.settings", settings, log, workers=1)
        else:
            server = gunicorn_server("tests.concurrency.settings", settings, log, workers=1)
        for alias in outage.databases:
            command = [sys.executable, "-m", "django", "migrate", "--no-input", "--database"]
            command += [alias, "django_express_session"]
            subprocess.run(command, cwd=server.cwd, env=server.env, check=True, timeout=120)
        servers.append(server.start())
        return server

    yield start
    for server in servers:
        server.stop()


def session_of(server: Server, cookie: str) -> dict:
    response = get(server.port, "/session", cookie)
    assert response.status == 200, response.body
    return json.loads(response.body)


class Browser(threading.Thread):
    """Keeps sending requests with the session cookie until stopped."""

    def __init__(self, server: Server, cookie: str) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.cookie = cookie
        self.statuses: list[int] = []
        #: (status, Set-Cookie lines) of the responses that set a cookie.
        self.set_cookies: list[tuple[int, list[str]]] = []
        self.running = True

    def run(self) -> None:
        count = 0
        while self.running:
            count += 1
            response = get(self.server.port, f"/set?seen={count}", self.cookie)
            self.statuses.append(response.status)
            lines = response.headers.get_all("Set-Cookie")
            if lines:
                self.set_cookies.append((response.status, lines))
            time.sleep(0.01)

    def stop(self) -> None:
        self.running = False
        self.join(30)

    def wait_for(self, status: int, seconds: float = 30) -> None:
        since = len(self.statuses)
        deadline = time.monotonic() + seconds
        while status not in self.statuses[since:]:
            assert time.monotonic() < deadline, f"no {status} in {seconds}s: {self.statuses}"
            time.sleep(0.05)


@pytest.mark.parametrize("protocol", ["wsgi", "asgi"])
def test_a_store_outage_is_a_503_that_keeps_the_cookie_and_recovers_by_itself(
    protocol, outage, django_server
):
    server = django_server(protocol)
    cookie = cookie_of(get(server.port, "/set?before=outage"))
    before = session_of(server, cookie)

    browser = Browser(server, cookie)
    browser.start()
    try:
        browser.wait_for(200)
        outage.stop()
        browser.wait_for(503)

        response = get(server.port, "/session", cookie)
        assert response.status == 503
        assert response.headers["Retry-After"] == "1"
        assert b"the session store cannot be reached" in response.body
        assert response.headers.get_all("Set-Cookie") is None

        outage.start()
        browser.wait_for(200)
    finally:
        browser.stop()

    assert set(browser.statuses) <= {200, 503}, "never a 500"
    assert "session store unavailable" in server.log.read_text(), "a log line says why"
    assert [status for status, _ in browser.set_cookies if status == 503] == []
    if outage.durable:
        assert browser.set_cookies == [], "the browser's cookie is never deleted nor replaced"
        after = session_of(server, cookie)
        assert after["id"] == before["id"]
        assert after["data"]["before"] == "outage"
        assert after["data"]["seen"], "the browser's writes after the recovery landed"


def test_continue_option_serves_requests_without_a_session_and_loses_nothing(outage, django_server):
    server = django_server(storeUnavailable="continue")
    cookie = cookie_of(get(server.port, "/set?before=outage"))
    before = session_of(server, cookie)

    outage.stop()
    try:
        during = get(server.port, "/set?during=outage", cookie)
        read = get(server.port, "/session", cookie)
    finally:
        outage.start()

    assert during.status == 200
    assert during.headers.get_all("Set-Cookie") is None, "an unsaved session sends no cookie"
    assert read.status == 200
    assert json.loads(read.body)["data"] == {}, "the request went on without the session"
    if outage.durable:
        after = session_of(server, cookie)
        assert after["id"] == before["id"]
        assert after["data"] == {"before": "outage"}, "nothing written during the outage"


def test_continue_option_logs_why_it_goes_on_without_a_session(outage, django_server):
    server = django_server(storeUnavailable="continue")
    cookie = cookie_of(get(server.port, "/set?before=outage"))
    log_before = len(server.log.read_text())

    outage.stop()
    try:
        assert get(server.port, "/session", cookie).status == 200
    finally:
        outage.start()

    assert "session store" in server.log.read_text()[log_before:]
