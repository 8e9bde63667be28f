"""Django's ``SESSION_*`` settings honoured or reported, and the system checks for the
traps of a switch from ``django.contrib.sessions``."""

from __future__ import annotations

import pytest
from django.core import checks
from django.test import Client, override_settings

from django_express_session import conf
from tests.helpers import SECRET

BASE = {"secret": SECRET, "resave": False, "saveUninitialized": False}
DB_ENGINE = "django.contrib.sessions.backends.db"
APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.messages",
    "django.contrib.admin",
    "django_express_session",
]


@pytest.fixture
def express(settings):
    def configure(**options):
        settings.EXPRESS_SESSION = {**BASE, **options}
        return conf.get_options()

    return configure


def ids(messages=None) -> list[str]:
    found = messages if messages is not None else checks.run_checks()
    return sorted(message.id for message in found if message.id.startswith("django_express"))


# -- Django settings mapped onto the options ---------------------------------------------


def test_explicit_django_cookie_settings_fill_in_what_express_session_leaves_out(express, settings):
    settings.SESSION_COOKIE_AGE = 3600
    settings.SESSION_COOKIE_SECURE = True
    settings.SESSION_COOKIE_HTTPONLY = False
    settings.SESSION_COOKIE_SAMESITE = "Strict"
    settings.SESSION_COOKIE_DOMAIN = "example.com"
    settings.SESSION_COOKIE_PATH = "/app"
    settings.SESSION_SAVE_EVERY_REQUEST = True

    options = express()

    assert dict(options.cookie.given) == {
        "maxAge": 3_600_000,
        "secure": True,
        "httpOnly": False,
        "sameSite": "strict",
        "domain": "example.com",
        "path": "/app",
    }
    assert options.rolling is True


def test_express_session_options_win_and_the_disagreement_is_reported(express, settings):
    settings.SESSION_COOKIE_AGE = 3600
    settings.SESSION_COOKIE_SECURE = True

    options = express(cookie={"maxAge": 60_000, "secure": False}, rolling=False)

    assert options.cookie.given["maxAge"] == 60_000 and options.cookie.given["secure"] is False
    assert ids().count("django_express_session.W024") == 2


def test_django_defaults_that_the_settings_module_does_not_set_change_nothing(express):
    options = express()

    assert dict(options.cookie.given) == {}
    assert options.rolling is False


def test_expire_at_browser_close_wins_over_the_cookie_age_as_in_django(express, settings):
    settings.SESSION_COOKIE_AGE = 3600
    settings.SESSION_EXPIRE_AT_BROWSER_CLOSE = True

    assert "maxAge" not in express().cookie.given
    assert "django_express_session.W023" in ids()


def test_expire_at_browser_close_beside_an_express_max_age_is_reported(express, settings):
    settings.SESSION_EXPIRE_AT_BROWSER_CLOSE = True

    assert express(cookie={"maxAge": 3_600_000}).cookie.given["maxAge"] == 3_600_000
    (warning,) = [m for m in checks.run_checks() if m.id == "django_express_session.W024"]
    assert "SESSION_EXPIRE_AT_BROWSER_CLOSE says None" in warning.msg


def test_a_mapped_setting_reaches_the_browser(express, settings, db):
    settings.ROOT_URLCONF = "tests.urls"
    settings.SESSION_COOKIE_SAMESITE = "Strict"
    settings.SESSION_COOKIE_AGE = 600
    express()

    line = Client().get("/set", {"v": "1"}).cookies["connect.sid"].OutputString()

    assert "SameSite=Strict" in line and "Expires=" in line


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("SESSION_COOKIE_NAME", "oldsid"),
        ("SESSION_CACHE_ALIAS", "sessions"),
        ("SESSION_FILE_PATH", "/tmp"),
        ("SESSION_SERIALIZER", "myproject.PickleSerializer"),
    ],
)
def test_a_django_setting_without_effect_is_reported(express, settings, setting, value):
    setattr(settings, setting, value)
    express()

    (warning,) = [m for m in checks.run_checks() if m.id == "django_express_session.W023"]
    assert warning.msg.startswith(setting)


def test_under_migrate_from_the_old_engines_settings_are_not_reported(express, settings):
    settings.SESSION_COOKIE_NAME = "oldsid"
    settings.SESSION_CACHE_ALIAS = "default"
    express(migrateFrom={"engine": "django.contrib.sessions.backends.cache"})

    assert conf.get_options().migrate_from.cookie_name == "oldsid"
    assert "django_express_session.W023" not in ids()


def test_a_max_age_in_seconds_is_caught(express):
    express(cookie={"maxAge": 1800})

    (warning,) = [m for m in checks.run_checks() if m.id == "django_express_session.W025"]
    assert "milliseconds" in warning.msg and "1800000" in warning.hint


# -- the traps -----------------------------------------------------------------------------


def test_django_sessions_app_beside_this_one_is_reported(express):
    express()
    with override_settings(INSTALLED_APPS=[*APPS, "django.contrib.sessions"]):
        assert "django_express_session.W020" in ids()
        assert "django_express_session.W021" not in ids(), "listed after this app"
    with override_settings(INSTALLED_APPS=["django.contrib.sessions", *APPS]):
        assert "django_express_session.W021" in ids(), "its clearsessions would win"


def test_clearsessions_is_this_packages_when_it_is_listed_first(express):
    from django.core.management import get_commands

    express()
    with override_settings(INSTALLED_APPS=[*APPS, "django.contrib.sessions"]):
        get_commands.cache_clear()
        assert get_commands()["clearsessions"] == "django_express_session"
    get_commands.cache_clear()


def test_migrate_from_the_db_engine_needs_django_sessions_installed(express):
    express(migrateFrom={"engine": DB_ENGINE}, cookie={"maxAge": 3_600_000})

    assert ids() == ["django_express_session.E020"]
    with override_settings(INSTALLED_APPS=[*APPS, "django.contrib.sessions"]):
        assert ids() == []


def test_migrate_from_an_engine_that_cannot_be_imported(express):
    express(migrateFrom={"engine": "myproject.sesions"})

    assert "django_express_session.E022" in ids()


def test_migrate_from_with_a_browser_session_cookie_is_reported(express):
    express(migrateFrom={"engine": "django.contrib.sessions.backends.cache"})

    assert "django_express_session.W022" in ids()


@pytest.mark.parametrize(
    ("store", "caches"),
    [
        ({"backend": "redis", "options": {"alias": "sessions"}}, {}),
        (
            {"backend": "redis", "options": {"alias": "sessions"}},
            {"sessions": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
        ),
        (
            {"backend": "cache", "options": {"alias": "sessions"}},
            {"sessions": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}},
        ),
    ],
    ids=["redis-missing", "redis-not-django-redis", "cache-dummy"],
)
def test_a_store_alias_that_is_missing_or_of_the_wrong_kind_is_a_check_error(
    express, settings, store, caches
):
    settings.CACHES = {**settings.CACHES, **caches}
    express(store=store)

    (error,) = [m for m in checks.run_checks() if m.id == "django_express_session.E024"]
    assert "'sessions'" in error.msg


@pytest.mark.parametrize(
    "backend", ["django_redis.cache.RedisCache", "django_valkey.cache.ValkeyCache"]
)
def test_a_django_redis_or_django_valkey_alias_passes(express, settings, backend):
    settings.CACHES = {
        **settings.CACHES,
        "sessions": {"BACKEND": backend, "LOCATION": "redis://127.0.0.1:1"},
    }
    express(store={"backend": "redis", "options": {"alias": "sessions"}})

    assert "django_express_session.E024" not in ids()


def test_a_sentinel_store_names_no_alias(express):
    sentinels = {"sentinels": [["127.0.0.1", 1]], "service": "mymaster"}
    express(store={"backend": "redis", "options": sentinels})

    assert "django_express_session.E024" not in ids()
