"""Switching a live project from ``django.contrib.sessions`` to this package logs no one
out: over real HTTP, under gunicorn (and uvicorn for the async path).

Users log in on the project as it was (Django's ``SessionMiddleware``, the ``db`` engine
on SQLite or the ``cache`` engine on a real Redis through django-redis); the project is
restarted with this package and ``migrateFrom``; each user's browser (a cookie jar) comes
back. ``manage.py migratesessions`` runs on the same project in a subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path

import pytest

from tests.concurrency.driver import get
from tests.concurrency.servers import gunicorn_server, uvicorn_server
from tests.servers.process import Server
from tests.servers.redis import redis_url

pytestmark = pytest.mark.slow

OLD, NEW = "tests.migration.old_settings", "tests.migration.new_settings"
DB_ENGINE = "django.contrib.sessions.backends.db"
CACHE_ENGINE = "django.contrib.sessions.backends.cache"
EXPRESS = {
    "secret": "keyboard cat",
    "resave": False,
    "saveUninitialized": False,
    "cookie": {"maxAge": 14 * 24 * 3600 * 1000},  # Django's two weeks
}


class Browser:
    """A cookie jar that sends what the server set and forgets what it deleted."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.cookies: dict[str, str] = {}

    def get(self, path: str):
        header = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        response = get(self.server.port, path, header or None)
        self.receive(response)
        return response

    def receive(self, response) -> None:
        for line in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(line).items():
                if morsel["max-age"] == "0" or "1970" in morsel["expires"] or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.coded_value

    def text(self, path: str) -> str:
        response = self.get(path)
        assert response.status == 200, (response.status, response.body)
        return response.body.decode()


class Project:
    """The sample project on one database (and Redis), before or after the switch."""

    def __init__(self, tmp_path: Path, settings: dict, express: dict) -> None:
        self.tmp_path = tmp_path
        self.settings = settings
        self.express = express
        self.servers: list[Server] = []

    def _server(self, module: str, extra: dict, protocol: str = "wsgi") -> Server:
        log = self.tmp_path / f"{module.rsplit('.', 1)[-1]}.log"
        settings = {**self.settings, **extra}
        if protocol == "asgi":
            return uvicorn_server(module, settings, log, workers=1)
        return gunicorn_server(module, settings, log, workers=1, threads=8)

    def manage(self, module: str, extra: dict, *argv: str) -> subprocess.CompletedProcess:
        server = self._server(module, extra)
        done = subprocess.run(
            [sys.executable, "-m", "django", *argv],
            cwd=server.cwd,
            env=server.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    def start(self, side: str, protocol: str = "wsgi") -> Server:
        if side == "old":
            module, extra = OLD, {"SESSION_ENGINE": self.express["migrateFrom"]["engine"]}
        else:
            module, extra = NEW, {"EXPRESS_SESSION": self.express}
        self.manage(module, extra, "migrate", "--no-input", "-v", "0")
        server = self._server(module, extra, protocol).start()
        self.servers.append(server)
        return server

    def migratesessions(self, *argv: str) -> subprocess.CompletedProcess:
        return self.manage(NEW, {"EXPRESS_SESSION": self.express}, "migratesessions", *argv)

    def stop(self) -> None:
        while self.servers:
            self.servers.pop().stop()


def sqlite(tmp_path: Path) -> dict:
    return {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "db.sqlite3")}
    }


@pytest.fixture
def db_project(tmp_path) -> Iterator[Project]:
    """Django's db engine on SQLite; after the switch, the database store on the same file."""
    settings = {"DATABASES": sqlite(tmp_path)}
    express = {
        **EXPRESS,
        "migrateFrom": {"engine": DB_ENGINE},
        "store": {"backend": "database", "options": {}},
    }
    project = Project(tmp_path, settings, express)
    yield project
    project.stop()


@pytest.fixture
def redis_project(tmp_path, redis_server, redis_client) -> Iterator[Project]:
    """Django's cache engine on django-redis; after the switch, the redis store on the
    same server (emptied first: ``redis_client``)."""
    cache = {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": redis_url(redis_server)}
    settings = {
        "DATABASES": sqlite(tmp_path),
        "CACHES": {"default": cache},
    }
    express = {
        **EXPRESS,
        "migrateFrom": {"engine": CACHE_ENGINE},
        "store": {"backend": "redis", "options": {"alias": "default"}},
    }
    project = Project(tmp_path, settings, express)
    yield project
    project.stop()


@pytest.fixture(params=["db_project", "redis_project"])
def project(request) -> Project:
    return request.getfixturevalue(request.param)


def logged_in_on_the_old_project(project: Project, names: list[str]) -> dict[str, Browser]:
    server = project.start("old")
    browsers = {}
    for name in names:
        browser = Browser(server)
        browser.text(f"/login?username={name}")
        assert set(browser.cookies) == {"sessionid"}, browser.cookies
        browsers[name] = browser
    browsers[names[0]].text("/message?text=hello+from+before")
    tokens = {name: browser.text("/csrf") for name, browser in browsers.items()}
    project.stop()
    for name, browser in browsers.items():
        browser.token = tokens[name]
    return browsers


def switch(browsers: dict[str, Browser], server: Server) -> None:
    for browser in browsers.values():
        browser.server = server


@pytest.mark.parametrize("protocol", ["wsgi", "asgi"])
def test_every_user_is_still_logged_in_after_the_switch(project, protocol):
    browsers = logged_in_on_the_old_project(project, ["alice", "bob", "carol"])
    old_keys = {name: browser.cookies["sessionid"] for name, browser in browsers.items()}
    switch(browsers, project.start("new", protocol))

    for name, browser in browsers.items():
        first = browser.get("/whoami")
        assert first.body.decode() == name
        lines = first.headers.get_all("Set-Cookie")
        assert any(line.startswith("connect.sid=s%3A") for line in lines), lines
        assert any(line.startswith("sessionid=") and "Max-Age=0" in line for line in lines)
        assert set(browser.cookies) == {"connect.sid"}, "the old cookie is deleted"
        assert browser.text("/whoami") == name, "and the express cookie alone is the session"
        assert browser.text("/csrf") == browser.token, "the CSRF token moved over"
    assert json.loads(browsers["alice"].text("/messages")) == ["hello from before"]

    # The old records are gone: an old cookie now names an express record only.
    for name, key in old_keys.items():
        stranger = Browser(browsers[name].server)
        stranger.cookies["sessionid"] = key
        assert stranger.text("/whoami") == name, "converted: found under the derived id"


def test_concurrent_first_requests_with_one_old_cookie_end_in_one_session(project):
    browsers = logged_in_on_the_old_project(project, ["alice"])
    server = project.start("new")
    old = browsers["alice"].cookies["sessionid"]
    results: list[tuple[str, list[str]]] = [("", [])] * 12
    barrier = threading.Barrier(len(results))

    def first_request(index: int) -> None:
        barrier.wait()
        response = get(server.port, "/session", f"sessionid={old}")
        results[index] = (response.body.decode(), response.headers.get_all("Set-Cookie"))

    threads = [threading.Thread(target=first_request, args=(i,)) for i in range(len(results))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    keys = {json.loads(body)["key"] for body, _ in results}
    assert len(keys) == 1, keys
    assert all(json.loads(body)["data"]["_auth_user_id"] for body, _ in results)
    express_cookies = {
        line.split(";")[0]
        for _, lines in results
        for line in lines
        if line.startswith("connect.sid")
    }
    assert len(express_cookies) == 1, "every response names the same express session"


def test_an_old_cookie_of_a_gone_session_is_simply_deleted(db_project):
    server = db_project.start("new")
    browser = Browser(server)
    browser.cookies["sessionid"] = "abcdefgh12345678abcdefgh12345678"

    response = browser.get("/whoami")

    assert response.body == b"anonymous"
    assert browser.cookies == {}, response.headers.get_all("Set-Cookie")


def test_migratesessions_converts_stored_sessions_and_old_cookies_keep_working(project):
    browsers = logged_in_on_the_old_project(project, ["alice", "bob", "carol", "dave"])
    switch(browsers, project.start("new"))  # serving while the command runs

    dry = project.migratesessions("--dry-run")
    assert "Would convert 4 sessions" in dry.stdout, dry.stdout
    done = project.migratesessions("--batch-size", "3")
    assert "Converted 4 sessions" in done.stdout, done.stdout
    assert "Failed: 0." in done.stdout
    again = project.migratesessions()
    assert "Converted 0 sessions" in again.stdout, again.stdout

    for name, browser in browsers.items():
        assert browser.text("/whoami") == name
        assert set(browser.cookies) == {"connect.sid"}
        assert browser.text("/csrf") == browser.token


def test_migratesessions_prints_a_progress_bar_on_stderr(db_project):
    logged_in_on_the_old_project(db_project, ["alice", "bob"])
    db_project.start("new")

    done = db_project.migratesessions()

    assert "[" + "#" * 30 + "] 100%  2/2 sessions" in done.stderr, done.stderr


def test_production_ignores_an_unsigned_session_id(db_project):
    """The stock test client's raw cookie is honoured only inside Django's test
    environment, for its in-process requests: a real server never accepts it."""
    server = db_project.start("new")
    browser = Browser(server)
    browser.text("/login?username=alice")
    sid = json.loads(browser.text("/session"))["key"]
    assert browser.text("/whoami") == "alice"

    for cookie in (f"sessionid={sid}", f"connect.sid={sid}", f"connect.sid=s%3A{sid}"):
        response = get(server.port, "/whoami", cookie)
        assert response.body == b"anonymous", cookie
