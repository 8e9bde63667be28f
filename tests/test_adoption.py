"""What a new user meets first: a bad EXPRESS_SESSION as check errors (with "did you
mean"), maxAge given in seconds, the file store's directory, the app missing from
INSTALLED_APPS, and the words of the checks and commands."""

from __future__ import annotations

import os

import pytest
from django.apps import apps
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client, override_settings

from django_express_session.middleware import SessionMiddleware
from tests.helpers import SECRET

BASE = {"secret": SECRET, "resave": False, "saveUninitialized": False}


@pytest.fixture
def express(settings):
    def configure(**options):
        settings.EXPRESS_SESSION = {**BASE, **options}

    return configure


def messages(check_id: str) -> list[checks.CheckMessage]:
    return [m for m in checks.run_checks() if m.id == f"django_express_session.{check_id}"]


# -- a bad EXPRESS_SESSION is a check error, not a crash ------------------------------------


@pytest.mark.parametrize(
    ("config", "said"),
    [
        (
            {"saveUnitialized": False},
            "'saveUnitialized'] is not an option (did you mean 'saveUninitialized'?)",
        ),
        ({"cookie": {"maxage": 1000}}, "is not a cookie option (did you mean 'maxAge'?)"),
        ({"store": {"backend": "reddis"}}, "'reddis' is not a store (did you mean 'redis'?)"),
        (
            {"store": {"backend": "file", "option": {}}},
            "has unknown keys ['option'] (did you mean 'options'?)",
        ),
        (
            {"store": {"backend": "file", "options": {"pth": "/tmp/x"}}},
            "is not an option of the file store (did you mean 'path'?)",
        ),
        ({"migrateFrom": {"engin": "x"}}, "(did you mean 'engine'?)"),
    ],
    ids=["top-level", "cookie", "backend", "store-key", "store-option", "migrateFrom"],
)
def test_a_bad_setting_is_one_check_error_with_the_fix_of_a_typo(express, config, said):
    express(**config)

    (error,) = messages("E050")
    assert said in error.msg
    assert [m for m in checks.run_checks() if m.level >= checks.ERROR] == [error]


def test_check_and_the_other_commands_run_with_a_bad_setting(express):
    express(cookie={"maxage": 1000})

    with pytest.raises(SystemCheckError, match="did you mean 'maxAge'"):
        call_command("check")
    apps.get_app_config("django_express_session").ready()  # what crashed every command


def test_the_request_path_still_refuses_a_bad_setting(express):
    express(cookie={"maxage": 1000})

    with pytest.raises(ImproperlyConfigured, match="did you mean 'maxAge'"):
        SessionMiddleware(lambda request: None)
    with pytest.raises(ImproperlyConfigured, match="did you mean 'maxAge'"):
        Client().get("/")


def test_the_app_missing_from_installed_apps_is_said_by_the_middleware(express, settings):
    express()
    apps = [app for app in settings.INSTALLED_APPS if app != "django_express_session"]

    with (
        override_settings(INSTALLED_APPS=apps),
        pytest.raises(ImproperlyConfigured, match="is not in INSTALLED_APPS"),
    ):
        SessionMiddleware(lambda request: None)


# -- maxAge in seconds ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("max_age", "because"),
    [
        (14 * 24 * 3600, "equals SESSION_COOKIE_AGE"),  # Django's default, in seconds
        (7 * 24 * 3600, "is 7 days in seconds"),
        (24 * 3600, "is 1 day in seconds"),
        (1800, "end 1.8 s after"),
    ],
)
def test_a_max_age_that_looks_like_seconds_is_reported(express, max_age, because):
    express(cookie={"maxAge": max_age})

    (warning,) = messages("W025")
    assert because in warning.msg
    assert str(max_age * 1000) in warning.hint


def test_a_max_age_equal_to_the_projects_session_cookie_age_is_reported(express, settings):
    settings.SESSION_COOKIE_AGE = 5 * 3600
    express(cookie={"maxAge": 5 * 3600})

    (warning,) = messages("W025")
    assert "equals SESSION_COOKIE_AGE" in warning.msg


@pytest.mark.parametrize(
    "max_age", [14 * 24 * 3600 * 1000, 3 * 3600 * 1000, 60_000, 12 * 3600 * 1000, None]
)
def test_milliseconds_pass(express, max_age):
    express(cookie={"maxAge": max_age})

    assert messages("W025") == []


def test_w024_says_each_value_in_its_own_unit(express, settings):
    settings.SESSION_COOKIE_AGE = 3600
    express(cookie={"maxAge": 60_000})

    (warning,) = messages("W024")
    assert "SESSION_COOKIE_AGE is 3600 s (3600000 ms)" in warning.msg
    assert "['maxAge'] is 60000 ms" in warning.msg


# -- the file store's directory ------------------------------------------------------------


def test_a_directory_that_cannot_be_created_fails_check(express, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    express(store={"backend": "file", "options": {"path": str(blocker / "sessions")}})

    (error,) = messages("E051")
    assert f"{blocker / 'sessions'} cannot be created: {blocker} is not a directory" in error.msg


def test_the_503_log_says_cannot_be_written_and_gives_the_whole_path(
    express, tmp_path, caplog, settings
):
    settings.ROOT_URLCONF = "tests.urls"
    blocker = tmp_path / "a-rather-long-file-name-in-the-way"
    blocker.write_text("")
    express(store={"backend": "file", "options": {"path": str(blocker / "sessions")}})

    with caplog.at_level("ERROR", logger="django_express_session"):
        assert Client().get("/set?value=1").status_code == 503

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "the file session store cannot be written" in logged
    assert str(blocker / "sessions") in logged  # the whole path, no hint cut into it


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_a_directory_that_cannot_be_written_fails_check(express, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    deep = locked / "sub" / "sessions"
    express(store={"backend": "file", "options": {"path": str(deep)}})
    try:
        (error,) = messages("E051")
        assert f"{deep} cannot be created: {locked} cannot be written" in error.msg
    finally:
        locked.chmod(0o700)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_a_directory_under_a_place_no_one_can_write_fails_check_even_for_root(express):
    express(store={"backend": "file", "options": {"path": "/proc/no-such/sessions"}})

    (error,) = messages("E051")
    assert "/proc/no-such/sessions cannot be created: /proc cannot be written" in error.msg


def test_a_writable_directory_passes(express, tmp_path):
    express(store={"backend": "file", "options": {"path": str(tmp_path / "new" / "sessions")}})

    assert messages("E051") == []
    assert not (tmp_path / "new").exists(), "check creates nothing"


# -- words -----------------------------------------------------------------------------------


def test_e001_says_django_middleware_is_there_instead_when_ours_is_missing(express, settings):
    express()
    django_middleware = "django.contrib.sessions.middleware.SessionMiddleware"
    settings.MIDDLEWARE = [django_middleware]

    (error,) = messages("E001")
    assert "instead of" in error.msg and "beside" not in error.msg
    settings.MIDDLEWARE = [django_middleware, "django_express_session.middleware.SessionMiddleware"]
    (error,) = messages("E001")
    assert "beside" in error.msg


# -- the 503 body ----------------------------------------------------------------------------


def test_the_503_body_is_the_projects_template_when_it_has_one(express, tmp_path, settings):
    settings.ROOT_URLCONF = "tests.urls"
    blocker = tmp_path / "in-the-way"
    blocker.write_text("")
    express(store={"backend": "file", "options": {"path": str(blocker / "sessions")}})
    assert Client().get("/set?value=1").content.startswith(b"503 Service Unavailable")

    templates = tmp_path / "templates" / "django_express_session"
    templates.mkdir(parents=True)
    (templates / "store_unavailable.html").write_text(
        "<h1>Back in {{ retry_after }} s</h1>{{ user }}"
    )
    settings.TEMPLATES = [
        {**settings.TEMPLATES[0], "DIRS": [str(tmp_path / "templates")]},
        *settings.TEMPLATES[1:],
    ]
    response = Client().get("/set?value=1")

    assert response.status_code == 503 and response["Retry-After"] == "1"
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response.content == b"<h1>Back in 1 s</h1>"  # no request context: no user


def test_w020_says_to_keep_migrate_from_until_the_status_says_it_can_go(express, settings):
    express(migrateFrom={"engine": "django.contrib.sessions.backends.file"})
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "django.contrib.sessions"]

    (warning,) = messages("W020")
    assert "Keep 'migrateFrom' itself until 'manage.py migratesessions --status'" in warning.hint
