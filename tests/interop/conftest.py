"""A real Express app and the real Django app, side by side on loopback, and one browser.

``apps(store, **options)`` returns an ``AppPair``: ``interop/node/app.js`` (Express 4,
express-session 1.19 and the store's express package on Node 20; with the Express-side
option ``packages="node22"``, Express 5 and connect-redis 11 on Node 22) and the Django app
(``tests/interop/settings.py`` under uvicorn), both configured with the same options and
the same store. A ``Browser`` holds one cookie jar and talks to both, like a user's
browser on one domain (cookies ignore ports, so 127.0.0.1 serves as the shared domain).

Servers are started once per configuration and reused by every test that asks for the
same one, then stopped at the end of the run. ``shared_store`` parametrizes a test over
the five shared stores; each store is described by an ``interop_store_<name>`` fixture
returning a ``StoreSpec`` (what Django and Node each need to reach the same data).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import pytest

from tests.servers.memcached import pymemcache_cache
from tests.servers.process import Server, free_port, require
from tests.servers.redis import redis_url

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "interop" / "node"
# The Node binary of each package set of interop/ (interop/node/packages.js): Debian's
# Node 20 for today's pins, the one interop/node22 installs (its `node` package) for
# Express 5 + connect-redis 11 + node-redis 6.
NODE_OF_PACKAGES = {"node22": ROOT / "interop" / "node22" / "node_modules" / ".bin" / "node"}
# Each shared store, and the store variant of tests/servers it stands beside.
SHARED_STORES = {
    "file": "file",
    "redis": "redis",
    "postgres": "database_postgres",
    "mongodb": "mongodb",
    "memcached": "cache_memcached",
}
# EXPRESS_SESSION_TEST_STORES (see tests/conftest.py) narrows these too.
if os.environ.get("EXPRESS_SESSION_TEST_STORES"):
    _chosen = os.environ["EXPRESS_SESSION_TEST_STORES"].split(",")
    SHARED_STORES = {name: variant for name, variant in SHARED_STORES.items() if variant in _chosen}
MAX_RUNNING_PAIRS = 8


# -- what each store needs on each side -----------------------------------------------


@dataclass(frozen=True)
class StoreSpec:
    """One store as both apps see it: Django's ``EXPRESS_SESSION["store"]`` (plus the
    ``CACHES``/``DATABASES`` entries it refers to) and the Node factory's options."""

    name: str
    django: dict[str, Any]
    node: dict[str, Any]
    caches: dict[str, Any] | None = None
    databases: dict[str, Any] | None = None


@pytest.fixture(scope="session")
def interop_store_file(tmp_path_factory) -> StoreSpec:
    path = str(tmp_path_factory.mktemp("interop-file-sessions"))
    return StoreSpec(
        name="file",
        django={"backend": "file", "options": {"path": path}},
        node={"kind": "file", "options": {"path": path}},
    )


@pytest.fixture(scope="session")
def interop_store_redis(redis_server) -> StoreSpec:
    # A database of its own: the Redis store tests empty database 0 between tests.
    url = redis_url(redis_server, db=3)
    return StoreSpec(
        name="redis",
        django={"backend": "redis", "options": {"alias": "interop_sessions"}},
        node={"kind": "redis", "options": {"url": url}},
        caches={"interop_sessions": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": url}},
    )


@pytest.fixture(scope="session")
def interop_store_mongodb(mongo_uri) -> StoreSpec:
    options = {"mongoUrl": mongo_uri, "dbName": "interop_sessions"}
    return StoreSpec(
        name="mongodb",
        django={"backend": "mongodb", "options": options},
        node={"kind": "mongo", "options": options},
    )


@pytest.fixture(scope="session")
def interop_store_postgres(postgres_cluster) -> StoreSpec:
    # A database of its own: the database store tests empty their table between tests.
    import psycopg

    with psycopg.connect(postgres_cluster.url, autocommit=True) as connection:
        connection.execute("CREATE DATABASE interop")
    database = {**postgres_cluster.django_settings(), "NAME": "interop"}
    url = postgres_cluster.url.rsplit("/", 1)[0] + "/interop"
    return StoreSpec(
        name="postgres",
        django={"backend": "database", "options": {"alias": "interop_pg"}},
        node={"kind": "pg", "options": {"connectionString": url}},
        databases={"interop_pg": database},
    )


@pytest.fixture(scope="session")
def interop_store_memcached(memcached_server) -> StoreSpec:
    hosts = f"127.0.0.1:{memcached_server.port}"
    return StoreSpec(
        name="memcached",
        django={"backend": "cache", "options": {"alias": "interop_sessions", "prefix": "interop:"}},
        node={"kind": "memcached", "options": {"hosts": hosts, "prefix": "interop:"}},
        caches={"interop_sessions": pymemcache_cache(memcached_server)},
    )


@pytest.fixture(scope="session")
def users_database(postgres_cluster):
    """The Django database both apps of the passport tests read users from (once per
    run: several modules use it)."""
    import psycopg

    with psycopg.connect(postgres_cluster.url, autocommit=True) as connection:
        connection.execute("CREATE DATABASE interop_users")
    return {
        "django": {**postgres_cluster.django_settings(), "NAME": "interop_users"},
        "url": postgres_cluster.url.rsplit("/", 1)[0] + "/interop_users",
    }


@pytest.fixture(params=list(SHARED_STORES))
def shared_store(request) -> StoreSpec:
    """Runs the test once per shared store (session-file-store, connect-redis,
    connect-pg-simple, connect-mongo, connect-memcached and their Django twins)."""
    return request.getfixturevalue(f"interop_store_{request.param}")


# -- the two apps ---------------------------------------------------------------------


@dataclass
class App:
    name: str  # "node" or "django"
    server: Server

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def __repr__(self) -> str:
        return f"<{self.name} app on {self.server.port}>"


@dataclass
class AppPair:
    node: App
    django: App

    def __iter__(self):
        return iter((self.node, self.django))

    def other(self, app: App) -> App:
        return self.django if app is self.node else self.node


def _express_options(options: dict[str, Any], store: dict[str, Any]) -> dict[str, Any]:
    return {**options, "store": store}


class ServerPool:
    """Running app pairs by configuration, so tests share servers; the oldest pair is
    stopped when too many run at once."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.pairs: OrderedDict[str, AppPair] = OrderedDict()
        self.database = workdir / "django.sqlite3"
        self.migrated: set[str] = set()

    def pair(
        self,
        store: StoreSpec,
        options: dict[str, Any],
        django: dict[str, Any] | None = None,
        node: dict[str, Any] | None = None,
    ) -> AppPair:
        """``django`` and ``node``: options for one side only (Django's ``passport``
        option, the Express app's user database)."""
        key = json.dumps([store.django, store.node, store.caches, store.databases, options])
        key += json.dumps([django, node])
        if key in self.pairs:
            self.pairs.move_to_end(key)
            return self.pairs[key]
        while len(self.pairs) >= MAX_RUNNING_PAIRS:
            _, oldest = self.pairs.popitem(last=False)
            for app in oldest:
                app.server.stop()
        label = f"{store.name}-{len(self.migrated)}-{free_port()}"
        with ThreadPoolExecutor(2) as starting:  # both boot at once
            node = starting.submit(self._start_node, store, {**options, **(node or {})}, label)
            django = starting.submit(
                self._start_django, store, {**options, **(django or {})}, label
            )
        if node.exception() or django.exception():
            for started in (node, django):
                if not started.exception():
                    started.result().server.stop()
        pair = AppPair(node=node.result(), django=django.result())
        self.pairs[key] = pair
        return pair

    def stop_all(self) -> None:
        for pair in self.pairs.values():
            for app in pair:
                app.server.stop()
        self.pairs.clear()

    def _start_node(self, store: StoreSpec, options: dict[str, Any], label: str) -> App:
        packages = options.get("packages", "node")
        if not (ROOT / "interop" / packages / "node_modules" / "express-session").is_dir():
            pytest.fail(f"interop/{packages}/node_modules is missing: scripts/test runs npm ci")
        node = str(NODE_OF_PACKAGES[packages]) if packages in NODE_OF_PACKAGES else require("node")
        port = free_port()
        config = json.dumps(_express_options(options, store.node))
        server = Server(
            [node, "app.js", config, str(port)],
            port,
            cwd=NODE_DIR,
            log=self.workdir / f"node-{label}.log",
        )
        return App("node", server.start())

    def _django_env(self, store: StoreSpec, options: dict[str, Any]) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="tests.interop.settings",
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
            DEMO_SQLITE_PATH=str(self.database),
            INTEROP_EXPRESS_SESSION=json.dumps(_express_options(options, store.django)),
            INTEROP_CACHES=json.dumps(store.caches),
            INTEROP_DATABASES=json.dumps(store.databases),
        )
        return env

    def manage(self, store: StoreSpec, options: dict[str, Any], *args: str) -> str:
        """Run ``manage.py <args>`` with the Django app's settings for ``store`` and
        ``options``; return what it printed (stdout and stderr)."""
        env = self._django_env(store, {**DEFAULT_OPTIONS, **options})
        self._migrate(env, store)
        command = [sys.executable, "-m", "django", *args]
        done = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, check=True
        )
        return done.stdout + done.stderr

    def _migrate(self, env: dict[str, str], store: StoreSpec) -> None:
        key = json.dumps(store.databases)
        if key in self.migrated:
            return
        migrate = [sys.executable, "-m", "django", "migrate", "--verbosity", "0"]
        subprocess.run(migrate, cwd=ROOT, env=env, check=True)
        for alias in store.databases or {}:
            # The session table (connect-pg-simple's) on the store's own database.
            database = ["django_express_session", "--database", alias]
            subprocess.run([*migrate, *database], cwd=ROOT, env=env, check=True)
        self.migrated.add(key)

    def _start_django(self, store: StoreSpec, options: dict[str, Any], label: str) -> App:
        env = self._django_env(store, options)
        self._migrate(env, store)
        port = free_port()
        server = Server(
            [
                sys.executable, "-m", "uvicorn", "testproject.asgi:application",
                "--host", "127.0.0.1", "--port", str(port),
                "--log-level", "warning", "--no-access-log",
            ],
            port,
            cwd=ROOT,
            env=env,
            log=self.workdir / f"django-{label}.log",
        )  # fmt: skip
        return App("django", server.start())


@pytest.fixture(scope="session")
def server_pool(tmp_path_factory):
    pool = ServerPool(tmp_path_factory.mktemp("interop-servers"))
    yield pool
    pool.stop_all()


DEFAULT_OPTIONS = {
    "secret": ["keyboard cat"],
    "name": "connect.sid",
    "resave": False,
    "saveUninitialized": False,
    "rolling": False,
    "cookie": {"maxAge": 60_000},
}


@pytest.fixture
def apps(server_pool):
    """``apps(store, **options)``: an Express app and a Django app on the same store and
    options (express-session's names; ``DEFAULT_OPTIONS`` fill the rest). ``django=``
    and ``node=`` add options for that side only."""

    def start(
        store: StoreSpec,
        *,
        django: dict[str, Any] | None = None,
        node: dict[str, Any] | None = None,
        **options: Any,
    ) -> AppPair:
        return server_pool.pair(store, {**DEFAULT_OPTIONS, **options}, django, node)

    return start


# -- the browser ----------------------------------------------------------------------


@dataclass
class SetCookie:
    """One ``Set-Cookie`` line, parsed: name, value and attributes (names lower-cased)."""

    line: str
    name: str = ""
    value: str = ""
    attributes: dict[str, str | bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        pair, *attributes = (part.strip() for part in self.line.split(";"))
        self.name, _, self.value = pair.partition("=")
        for attribute in attributes:
            key, has_value, value = attribute.partition("=")
            self.attributes[key.lower()] = value if has_value else True

    @property
    def sid(self) -> str | None:
        """The session id of a signed value (``s:<sid>.<signature>``), else None."""
        value = urllib.parse.unquote(self.value)
        if not value.startswith("s:") or "." not in value:
            return None
        return value[2:].rpartition(".")[0]

    @property
    def clears(self) -> bool:
        """True when this line removes the cookie from the browser (Expires in the past)."""
        expires = self.attributes.get("expires")
        if not isinstance(expires, str):
            return False
        return parsedate_to_datetime(expires).timestamp() <= time.time()


@dataclass
class Response:
    status: int
    body: Any
    set_cookies: list[SetCookie]
    headers: Any

    def cookie(self, name: str = "connect.sid") -> SetCookie | None:
        lines = [c for c in self.set_cookies if c.name == name]
        assert len(lines) <= 1, f"more than one Set-Cookie for {name}: {lines}"
        return lines[0] if lines else None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


# One TLS context for every browser's openers: each opener would otherwise build its own,
# loading the system's CA certificates (about 70 ms), though the apps speak plain HTTP.
_TLS = ssl.create_default_context()


class Browser:
    """One cookie jar shared by both apps: what a user's browser does on one domain."""

    def __init__(self) -> None:
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar),
            _NoRedirect(),
            urllib.request.HTTPSHandler(context=_TLS),
        )
        self.raw_opener = urllib.request.build_opener(
            _NoRedirect(), urllib.request.HTTPSHandler(context=_TLS)
        )

    def get(self, app: App, path: str, *, cookie: str | None = None, **query: Any) -> Response:
        """GET ``path`` on ``app`` and read the whole response. ``cookie`` sends that
        ``Cookie`` header instead of the jar's (a stale or forged cookie)."""
        url = app.url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        return self._send(urllib.request.Request(url), cookie)

    def post(self, app: App, path: str, form: dict[str, str]) -> Response:
        """POST a form, as a browser submits one."""
        data = urllib.parse.urlencode(form).encode()
        return self._send(urllib.request.Request(app.url + path, data=data), None)

    def _send(self, request: urllib.request.Request, cookie: str | None) -> Response:
        opener = self.opener
        if cookie is not None:
            request.add_header("Cookie", cookie)
            opener = self.raw_opener
        try:
            with opener.open(request, timeout=30) as answer:
                status, headers, raw = answer.status, answer.headers, answer.read()
        except urllib.error.HTTPError as error:
            status, headers, raw = error.code, error.headers, error.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        lines = [SetCookie(line) for line in headers.get_all("Set-Cookie") or []]
        return Response(status, body, lines, headers)

    def value(self, name: str = "connect.sid") -> str | None:
        """The cookie's value in the jar (as the browser would send it), or None."""
        for cookie in self.jar:
            if cookie.name == name:
                return cookie.value
        return None

    def sid(self, name: str = "connect.sid") -> str | None:
        value = self.value(name)
        return SetCookie(f"{name}={value}").sid if value is not None else None

    def put(self, value: str, name: str = "connect.sid") -> None:
        """Replace the jar's cookie with ``value`` (as a browser keeping an old one)."""
        for cookie in list(self.jar):
            if cookie.name == name:
                cookie.value = value
                return
        raise AssertionError(f"no {name} cookie in the jar")


@pytest.fixture
def browser() -> Browser:
    return Browser()


def sign(sid: str, secret: str) -> str:
    """The cookie value express-session sends for ``sid`` (cookie-signature 1.0.7),
    computed here independently of the package under test."""
    mac = hmac.new(secret.encode(), sid.encode(), hashlib.sha256).digest()
    signed = "s:" + sid + "." + base64.b64encode(mac).decode().rstrip("=")
    return urllib.parse.quote(signed, safe="-_.!~*'()")


def signed_with(value: str, secret: str) -> bool:
    """Whether a cookie value carries a valid signature by ``secret``."""
    sid = SetCookie(f"x={value}").sid
    return sid is not None and hmac.compare_digest(sign(sid, secret), value)
