"""examples/shared-login, run as its README says: log in on one app, be logged in on
the other; log out on either, be logged out of both.

The Express half runs from the example's directory with the interop packages (the same
pinned versions as the example's package.json) on ``NODE_PATH``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.servers.process import Server, free_port, require
from tests.servers.redis import redis_url

from .conftest import NODE_DIR, ROOT, App, Browser

pytestmark = pytest.mark.interop

EXAMPLE = ROOT / "examples" / "shared-login"


@pytest.fixture(scope="module")
def example(redis_server, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("shared-login")
    env = dict(
        os.environ,
        REDIS_URL=redis_url(redis_server, db=4),
        SESSION_SECRET="keyboard cat",
        PYTHONPATH=os.pathsep.join([str(ROOT), str(EXAMPLE)]),
        DJANGO_SETTINGS_MODULE="shared_login_settings",
        DEMO_SQLITE_PATH=str(workdir / "db.sqlite3"),
        NODE_PATH=str(NODE_DIR / "node_modules"),
    )
    for command in (["migrate", "--verbosity", "0"], ["ensure_demo_user"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True)
    django_port, node_port = free_port(), free_port()
    django = Server(
        [sys.executable, "-m", "uvicorn", "testproject.asgi:application",
         "--host", "127.0.0.1", "--port", str(django_port), "--log-level", "warning"],
        django_port, cwd=ROOT, env=env, log=workdir / "django.log",
    )  # fmt: skip
    node = Server(
        [require("node"), "app.js"],
        node_port,
        cwd=EXAMPLE,
        env={**env, "PORT": str(node_port)},
        log=workdir / "node.log",
    )
    try:
        yield App("django", django.start()), App("node", node.start())
    finally:
        django.stop()
        node.stop()


def user_on(browser: Browser, app: App) -> str:
    page = browser.get(app, "/")
    assert page.status == 200, page.body
    return re.search(r'id="user">([^<]*)<', page.body).group(1)


def csrf_token(browser: Browser) -> str:
    return next(cookie.value for cookie in browser.jar if cookie.name == "csrftoken")


def test_log_in_on_django_and_be_logged_in_on_express(example):
    django, node = example
    browser = Browser()
    assert user_on(browser, django) == "anonymous"
    login = {"csrfmiddlewaretoken": csrf_token(browser), "username": "demo", "password": "demo"}
    assert browser.post(django, "/login", login).status == 302

    assert user_on(browser, django) == "demo"
    assert user_on(browser, node) == "demo"

    assert browser.post(node, "/logout", {}).status == 302
    assert user_on(browser, node) == "anonymous"
    assert user_on(browser, django) == "anonymous"


def test_log_in_on_express_and_be_logged_in_on_django(example):
    django, node = example
    browser = Browser()
    assert user_on(browser, node) == "anonymous"
    login = {"username": "demo", "password": "demo"}
    assert browser.post(node, "/login", login).status == 302

    assert user_on(browser, node) == "demo"
    assert user_on(browser, django) == "demo"

    logout = {"csrfmiddlewaretoken": csrf_token(browser)}
    assert browser.post(django, "/logout", logout).status == 302
    assert user_on(browser, django) == "anonymous"
    assert user_on(browser, node) == "anonymous"
