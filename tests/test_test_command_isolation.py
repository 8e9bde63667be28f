"""``manage.py test`` (Django's runner, a ``TestCase`` written for Django's own engine)
leaves nothing in the configured file store, unless asked to use it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import SECRET, sample_project_env

SETTINGS = """
    import json, os

    from testproject.settings import *  # noqa: F403

    ROOT_URLCONF = "tests.testing_urls"
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    INSTALLED_APPS = [*INSTALLED_APPS, "sampleapp"]
    EXPRESS_SESSION = json.loads(os.environ["SAMPLE_EXPRESS_SESSION"])
"""

TESTS = """
    from django.contrib.auth.models import User
    from django.test import TestCase


    class LoginTests(TestCase):
        def test_login(self):
            User.objects.create_user("alice", password="wonderland")
            self.assertTrue(self.client.login(username="alice", password="wonderland"))
            self.assertEqual(self.client.get("/whoami").content, b"alice")
"""


def run_tests(tmp_path: Path, sessions: Path, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "sample_settings.py").write_text(textwrap.dedent(SETTINGS))
    app = tmp_path / "sampleapp"
    app.mkdir(exist_ok=True)
    (app / "__init__.py").write_text("")
    (app / "tests.py").write_text(textwrap.dedent(TESTS))
    express = {
        "secret": SECRET,
        "resave": False,
        "saveUninitialized": False,
        "store": {"backend": "file", "options": {"path": str(sessions)}},
    }
    env = sample_project_env(tmp_path, express, DJANGO_SETTINGS_MODULE="sample_settings")
    argv = [sys.executable, "-m", "django", "test", "sampleapp", "-v", "0", *args]
    return subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("real", [False, True], ids=["isolated", "real-store-on-purpose"])
def test_manage_py_test_leaves_the_configured_store_alone(tmp_path, real):
    sessions = tmp_path / "site-sessions"
    flags = ["--express-session-real-store"] if real else []

    done = run_tests(tmp_path, sessions, *flags)

    assert done.returncode == 0, done.stdout + done.stderr
    written = sorted(path.name for path in sessions.glob("*.json")) if sessions.exists() else []
    assert bool(written) is real, written
