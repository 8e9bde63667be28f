"""The pytest plugin, as a project uses it: a sample project's unchanged tests
(``client``, ``admin_client``, ``async_client``, ``settings``, ``override_settings``) run
in a separate pytest, once the project opts in, on the file store and a real Redis.
Without the opt-in the plugin changes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points

import pytest

from django_express_session import conf
from tests.helpers import SECRET, sample_project_env

PLUGIN = "django_express_session.testing.pytest_plugin"

SAMPLE_SETTINGS = """
    import json, os

    from testproject.settings import *  # noqa: F403

    ROOT_URLCONF = "tests.testing_urls"
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    EXPRESS_SESSION = json.loads(os.environ["SAMPLE_EXPRESS_SESSION"])
    CACHES = json.loads(os.environ["SAMPLE_CACHES"])
"""

# A project's tests written for Django's own session engine, unchanged.
PROJECT_TESTS = """
    import pytest
    from asgiref.sync import async_to_sync
    from django.contrib.auth.models import User
    from django.test import override_settings

    pytestmark = pytest.mark.django_db


    @pytest.fixture
    def alice():
        return User.objects.create_user("alice", password="wonderland")


    def test_login(client, alice):
        assert client.login(username="alice", password="wonderland")
        assert client.get("/whoami").content == b"alice"


    def test_force_login_then_logout(client, alice):
        client.force_login(alice)
        assert client.get("/whoami").content == b"alice"
        client.logout()
        assert client.get("/whoami").content == b"anonymous"


    def test_session_read_modify_save(client):
        client.get("/set", {"colour": "blue"})
        session = client.session
        assert session["colour"] == "blue"
        session["colour"] = "red"
        session.save()
        assert client.get("/read").json()["data"]["colour"] == "red"


    def test_admin_client(admin_client):
        assert admin_client.get("/admin/").status_code == 200


    def test_async_client(async_client, alice):
        @async_to_sync
        async def whoami_after_login():
            await async_client.aforce_login(alice)
            return (await async_client.get("/whoami")).content

        assert whoami_after_login() == b"alice"


    def test_settings_fixture_renames_the_cookie(client, alice, settings):
        settings.EXPRESS_SESSION = {**settings.EXPRESS_SESSION, "name": "app.sid"}
        client.force_login(alice)
        assert "app.sid" in client.cookies
        assert client.get("/whoami").content == b"alice"


    def test_override_settings_renames_the_cookie(client, alice, settings):
        with override_settings(EXPRESS_SESSION={**settings.EXPRESS_SESSION, "name": "o.sid"}):
            client.force_login(alice)
            assert "o.sid" in client.cookies
            assert client.get("/whoami").content == b"alice"
        assert client.get("/whoami").content == b"anonymous"
"""

FIXTURE_TYPES = """
    import django.test

    from django_express_session import testing


    def test_types(client, async_client, admin_client, express_client, express_async_client):
        assert type(client) is {client}
        assert type(async_client) is {async_client}
        assert type(admin_client) is {client}
        assert type(express_client) is testing.Client
        assert type(express_async_client) is testing.AsyncClient
"""

EXPRESS_FIXTURES = """
    import pytest
    from django.contrib.auth.models import User

    pytestmark = pytest.mark.django_db


    def test_express_client(express_client):
        User.objects.create_user("alice", password="wonderland")
        assert express_client.login(username="alice", password="wonderland")
        assert express_client.get("/whoami").content == b"alice"


    def test_express_admin_client(express_admin_client):
        assert express_admin_client.get("/admin/").status_code == 200


    def test_stock_client_works_too(client, admin_user):
        client.force_login(admin_user)  # Django's raw cookie, honoured for the test client
        assert client.get("/whoami").content == b"admin"
"""


OPTIONS = {"secret": SECRET, "resave": False, "saveUninitialized": False}


@pytest.fixture(params=["file", "redis"])
def store(request, settings):
    """Run the test on the file store, then on a real Redis."""
    store = request.getfixturevalue(f"store_{request.param}")
    settings.EXPRESS_SESSION = {**OPTIONS, "store": store}
    return conf.get_store()


@pytest.fixture
def project(request, tmp_path, settings):
    """A sample project directory; ``run(tests, ini=...)`` runs pytest on it and returns
    the finished process. Its sessions live in the store the test chose (``store``), or
    in a file store of its own."""
    (tmp_path / "sample_settings.py").write_text(textwrap.dedent(SAMPLE_SETTINGS))
    if "store" in request.fixturenames:
        express = settings.EXPRESS_SESSION
    else:
        express = {**OPTIONS, "store": request.getfixturevalue("store_file")}
    # Only the project's own configuration counts (pytest-django set these for this run).
    env = sample_project_env(tmp_path, express, SAMPLE_CACHES=json.dumps(settings.CACHES))
    # The entry point loads the plugin once the package is installed (scripts/test does).
    installed = entry_points(group="pytest11", name="django_express_session")
    load = [] if installed else ["-p", PLUGIN]

    def run(tests: str, *args: str, ini: str = "") -> subprocess.CompletedProcess:
        (tmp_path / "pytest.ini").write_text(
            "[pytest]\nDJANGO_SETTINGS_MODULE = sample_settings\n"
            f"addopts = -p no:cacheprovider -p no:hypothesispytest --no-migrations\n{ini}"
        )
        (tmp_path / "test_project.py").write_text(textwrap.dedent(tests))
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", *load, *args]
        return subprocess.run(
            [*argv, "test_project.py"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run


def passed(process: subprocess.CompletedProcess) -> str:
    assert process.returncode == 0, process.stdout + process.stderr
    return process.stdout.strip().splitlines()[-1]


def test_the_plugin_is_registered_as_a_pytest11_entry_point():
    (entry_point,) = entry_points(group="pytest11", name="django_express_session")

    assert entry_point.value == PLUGIN


def test_a_projects_tests_pass_unchanged_once_enabled(store, project):
    result = project(PROJECT_TESTS, ini="express_session_client = true\n")

    assert passed(result).startswith("7 passed")


def test_the_command_line_flag_enables_it_too(project):
    tests = FIXTURE_TYPES.format(client="testing.Client", async_client="testing.AsyncClient")

    assert passed(project(tests, "--express-session-client")).startswith("1 passed")


def test_without_opting_in_the_fixtures_stay_pytest_djangos(project):
    tests = FIXTURE_TYPES.format(
        client="django.test.Client", async_client="django.test.AsyncClient"
    )

    assert passed(project(tests)).startswith("1 passed")
    assert passed(project(tests, ini="express_session_client = false\n")).startswith("1 passed")


def test_the_express_fixtures_work_without_opting_in(store, project):
    assert passed(project(EXPRESS_FIXTURES)).startswith("3 passed")


# -- the run's sessions never reach the configured store -----------------------------------

WHERE_SESSIONS_GO = """
    from django_express_session import conf


    def test_the_store_is_of_the_same_kind(client):
        store = conf.get_options().store
        print("STORE", store.backend, dict(store.options))
        client.get("/set", {"colour": "blue"})
        assert client.get("/read").json()["data"]["colour"] == "blue"
"""


def test_an_unchanged_suite_leaves_nothing_in_the_configured_store(store, project):
    result = project(PROJECT_TESTS + WHERE_SESSIONS_GO, "-s", ini="express_session_client = true\n")

    assert passed(result).startswith("8 passed")
    assert store.length() == 0, "the run wrote into the configured store"
    (said,) = [
        line.split("STORE ", 1)[1] for line in result.stdout.splitlines() if "STORE " in line
    ]
    assert said.split()[0] == conf.get_options().store.backend, "a store of the same kind"
    if store.name == "redis":
        assert "'prefix': 'test-" in said
    else:
        assert "express-session-tests-" in said


def test_the_real_store_on_purpose(store, project):
    result = project(WHERE_SESSIONS_GO, "--express-session-real-store")

    assert passed(result).startswith("1 passed")
    assert store.length() == 1
