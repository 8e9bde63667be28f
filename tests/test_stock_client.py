"""A project's existing tests pass after the switch with no line of test configuration:
Django's ``TestCase`` (``self.client``, ``self.async_client``) under ``manage.py test``
and under pytest, and pytest-django's ``client``, ``async_client`` and ``admin_client``,
all with Django's stock test clients (``testing.stock``). Each suite runs in a
subprocess on a sample project, as a project's CI would run it. In-process, the
requests that are not the test client's own keep ignoring unsigned ids."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from wsgiref.util import setup_testing_defaults

import pytest
from asgiref.sync import async_to_sync
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpResponse
from django.test import AsyncClient, RequestFactory
from django.test import Client as DjangoClient
from django.urls import path

from django_express_session.middleware import SessionMiddleware
from django_express_session.testing import stock
from tests.helpers import SECRET, sample_project_env
from tests.test_pytest_plugin import SAMPLE_SETTINGS

#: This module's own views, added by the tests that need one.
urlpatterns: list = []


# Written for django.contrib.sessions, unchanged: nothing here knows this package.
TESTCASE_TESTS = """
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.test import TestCase


    class ProjectTests(TestCase):
        @classmethod
        def setUpTestData(cls):
            cls.alice = User.objects.create_user("alice", password="wonderland")

        def test_login(self):
            self.assertTrue(self.client.login(username="alice", password="wonderland"))
            self.assertEqual(self.client.get("/whoami").content, b"alice")

        def test_wrong_password(self):
            self.assertFalse(self.client.login(username="alice", password="nope"))
            self.assertEqual(self.client.get("/whoami").content, b"anonymous")

        def test_force_login_then_logout(self):
            self.client.force_login(self.alice)
            self.assertEqual(self.client.get("/whoami").content, b"alice")
            self.client.logout()
            self.assertEqual(self.client.get("/whoami").content, b"anonymous")

        def test_the_session_cookie_is_in_the_jar(self):
            self.client.force_login(self.alice)
            self.assertIn(settings.SESSION_COOKIE_NAME, self.client.cookies)

        def test_session_modified_and_saved_by_the_test(self):
            session = self.client.session
            session["colour"] = "red"
            session.save()
            self.assertEqual(self.client.get("/read").json()["data"]["colour"], "red")

        def test_session_written_by_a_view_is_the_clients_session(self):
            self.client.get("/set", {"colour": "blue"})
            self.assertEqual(self.client.session["colour"], "blue")

        def test_login_in_a_view_then_client_session(self):
            self.client.get("/login", {"username": "alice"})
            self.assertEqual(self.client.session["_auth_user_id"], str(self.alice.pk))
            self.assertEqual(self.client.get("/whoami").content, b"alice")

        def test_logout_view(self):
            self.client.force_login(self.alice)
            self.client.get("/logout")
            self.assertEqual(self.client.get("/whoami").content, b"anonymous")

        def test_messages(self):
            self.client.get("/message", {"text": "saved"})
            self.assertEqual(self.client.get("/messages").json(), ["saved"])

        async def test_async_client(self):
            await self.async_client.aforce_login(self.alice)
            self.assertEqual((await self.async_client.get("/whoami")).content, b"alice")
            session = await self.async_client.asession()
            self.assertEqual(session["_auth_user_id"], str(self.alice.pk))
            await self.async_client.alogout()
            self.assertEqual((await self.async_client.get("/whoami")).content, b"anonymous")
"""

PYTEST_TESTS = """
    import pytest
    from asgiref.sync import async_to_sync
    from django.contrib.auth.models import User

    pytestmark = pytest.mark.django_db


    @pytest.fixture
    def alice():
        return User.objects.create_user("alice", password="wonderland")


    def test_login(client, alice):
        assert client.login(username="alice", password="wonderland")
        assert client.get("/whoami").content == b"alice"


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


    def test_the_fixtures_are_djangos_own(client, async_client, admin_client):
        import django.test

        assert type(client) is django.test.Client
        assert type(async_client) is django.test.AsyncClient
        assert type(admin_client) is django.test.Client
"""


@pytest.fixture
def project(tmp_path, store_file, settings):
    """A sample project (file store of its own); ``run(argv, tests)`` writes the tests
    and runs ``argv`` in it."""
    (tmp_path / "sample_settings.py").write_text(textwrap.dedent(SAMPLE_SETTINGS))
    express = {"secret": SECRET, "resave": False, "saveUninitialized": False, "store": store_file}
    env = sample_project_env(
        tmp_path,
        express,
        SAMPLE_CACHES=json.dumps(settings.CACHES),
        DJANGO_SETTINGS_MODULE="sample_settings",
    )

    def run(argv: list[str], tests: str, name: str) -> subprocess.CompletedProcess:
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(tests))
        return subprocess.run(
            [sys.executable, *argv],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )

    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nDJANGO_SETTINGS_MODULE = sample_settings\n"
        "addopts = -p no:cacheprovider -p no:hypothesispytest -p no:xdist\n"
    )
    return run


def test_a_testcase_suite_passes_unchanged_under_djangos_test_runner(project):
    done = project(["-m", "django", "test", "-v", "2", "test_cases"], TESTCASE_TESTS, "test_cases")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "Ran 10 tests" in done.stderr and "OK" in done.stderr, done.stderr


def test_a_testcase_suite_passes_unchanged_under_pytest(project):
    done = project(["-m", "pytest", "-q", "test_cases.py"], TESTCASE_TESTS, "test_cases")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "10 passed" in done.stdout, done.stdout


def test_pytest_django_fixtures_pass_unchanged(project):
    done = project(["-m", "pytest", "-q", "test_fixtures.py"], PYTEST_TESTS, "test_fixtures")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 passed" in done.stdout, done.stdout


# -- the conditions, in-process --------------------------------------------------------


@pytest.fixture
def logged_in_sid(settings, store_file, db):
    from django.contrib.auth.models import User

    settings.ROOT_URLCONF = "tests.testing_urls"
    settings.EXPRESS_SESSION = {"secret": SECRET, "resave": False, "store": store_file}
    client = DjangoClient()
    client.force_login(User.objects.create_user("alice"))
    return client.cookies["sessionid"].value


def whoami(request) -> bytes:
    def view(request):
        user = request.session.get("_auth_user_id")
        return HttpResponse(b"alice" if user else b"anonymous")

    return SessionMiddleware(view)(request).content


def test_the_stock_clients_raw_cookie_logs_it_in(logged_in_sid):
    client = DjangoClient()
    client.cookies["sessionid"] = logged_in_sid

    assert client.get("/whoami").content == b"alice"


def test_a_request_not_made_by_the_test_client_gets_no_raw_cookie_treatment(logged_in_sid):
    request = RequestFactory().get("/whoami", HTTP_COOKIE=f"sessionid={logged_in_sid}")

    assert not stock.made_by_test_client(request)
    assert whoami(request) == b"anonymous"


def test_without_the_packages_test_support_no_request_gets_it(logged_in_sid):
    request = RequestFactory().get("/whoami", HTTP_COOKIE=f"sessionid={logged_in_sid}")
    request.META[stock.MARK] = True  # as the test support marks the test client's requests
    assert whoami(request) == b"alice"

    stock.disable()  # as in a server process: neither pytest nor manage.py test enabled it
    try:
        assert not stock.enabled()
        assert whoami(request) == b"anonymous"
    finally:
        stock.enable()


def test_the_test_clients_requests_are_marked_sync_and_async(settings):
    seen = []

    def view(request):
        seen.append(stock.made_by_test_client(request))
        return HttpResponse()

    settings.ROOT_URLCONF = __name__
    urlpatterns.append(path("marked", view))
    try:
        DjangoClient().get("/marked")
        async_to_sync(AsyncClient().get)("/marked")
    finally:
        urlpatterns.pop()
    assert seen == [True, True]


def exempt_from_csrf(get_response):
    """What API projects do: every request exempt from Django's CSRF checks."""

    def middleware(request):
        request._dont_enforce_csrf_checks = True
        return get_response(request)

    return middleware


def test_a_real_http_request_is_never_the_test_client_even_when_csrf_exempt(
    settings, logged_in_sid
):
    # A server calls WSGIHandler with its own environ; the stock cookie is ignored even
    # though the test support is on in this process and a middleware sets the flag
    # Django's test client also sets.
    settings.MIDDLEWARE = [f"{__name__}.exempt_from_csrf", *settings.MIDDLEWARE]
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/whoami"}
    setup_testing_defaults(environ)
    environ["HTTP_COOKIE"] = f"sessionid={logged_in_sid}"
    answer = []
    body = WSGIHandler()(environ, lambda status, headers: answer.append(status))
    assert stock.enabled()
    assert answer == ["200 OK"]
    assert b"".join(body) == b"anonymous"
