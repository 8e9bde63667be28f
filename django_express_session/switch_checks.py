"""System checks for switching a project over from ``django.contrib.sessions``: Django
settings that no longer apply, ``migrateFrom``, the store's cache or database alias,
``maxAge`` given in seconds. Each is caught by ``manage.py check`` (and ``runserver``,
``migrate``, the test runner), not by the first request."""

from __future__ import annotations

from typing import Any, NamedTuple

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning
from django.utils.module_loading import import_string

from . import django_settings
from .conf import STORE_BACKENDS, get_options
from .setup_checks import register  # quiet while EXPRESS_SESSION is invalid (E050)

APP = "django_express_session"
DJANGO_APP = "django.contrib.sessions"
#: Engines that keep sessions in django.contrib.sessions' table.
MODEL_ENGINES = {
    "django.contrib.sessions.backends.db",
    "django.contrib.sessions.backends.cached_db",
}
OUR_ENGINE = "django_express_session.session"
DJANGO_REDIS_CACHE = "django_redis.cache.RedisCache"
DJANGO_VALKEY_CACHE = "django_valkey.cache.ValkeyCache"
DUMMY_CACHE = "django.core.cache.backends.dummy.DummyCache"


def _app_position(name: str) -> int | None:
    from django.apps import apps

    for index, config in enumerate(apps.get_app_configs()):
        if config.name == name:
            return index
    return None


@register(Tags.compatibility)
def check_django_sessions_app(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``django.contrib.sessions`` beside this app: needed only for ``migrateFrom`` on its
    table; and whoever is listed first owns ``manage.py clearsessions``."""
    migrate = get_options().migrate_from
    needs_model = migrate is not None and migrate.engine in MODEL_ENGINES
    ours, django = _app_position(APP), _app_position(DJANGO_APP)
    messages: list[CheckMessage] = []
    if django is None:
        if needs_model:
            messages.append(
                Error(
                    f"EXPRESS_SESSION['migrateFrom'] reads {migrate.engine}, whose table "
                    f"belongs to {DJANGO_APP}, which is not in INSTALLED_APPS.",
                    hint=f"Keep {DJANGO_APP} installed (after {APP}) until every session "
                    "has moved over (manage.py migratesessions).",
                    id="django_express_session.E020",
                )
            )
        return messages
    if not needs_model:
        messages.append(
            Warning(
                f"{DJANGO_APP} is in INSTALLED_APPS beside {APP}, which does not need it.",
                hint="Remove it, unless EXPRESS_SESSION['migrateFrom'] reads its table "
                "(the db or cached_db engine). Keep 'migrateFrom' itself until "
                "'manage.py migratesessions --status' says it can go: the old cookies' "
                "lifetime (SESSION_COOKIE_AGE) after the switch, even once migratesessions "
                "has run, or their users are logged out.",
                id="django_express_session.W020",
            )
        )
    if ours is not None and django < ours:
        messages.append(
            Warning(
                f"{DJANGO_APP} is listed before {APP} in INSTALLED_APPS, so Django's "
                "clearsessions command shadows this package's.",
                hint=f"List {APP} before {DJANGO_APP}. (Django's command still prunes the "
                "store, through this engine's clear_expired, but without --dry-run or "
                "progress.)",
                id="django_express_session.W021",
            )
        )
    return messages


@register(Tags.compatibility)
def check_migrate_from(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    options = get_options()
    migrate = options.migrate_from
    if migrate is None:
        return []
    if migrate.engine == OUR_ENGINE:
        return [
            Error(
                "EXPRESS_SESSION['migrateFrom']['engine'] is this package's own engine.",
                hint="Name the engine the project used before, e.g. "
                "'django.contrib.sessions.backends.db'.",
                id="django_express_session.E021",
            )
        ]
    try:
        migrate.session_store()
    except (ImportError, AttributeError) as error:
        return [
            Error(
                f"EXPRESS_SESSION['migrateFrom']['engine'] {migrate.engine!r} cannot be "
                f"imported: {error}",
                hint="Give a SESSION_ENGINE path: a module with a SessionStore class.",
                id="django_express_session.E022",
            )
        ]
    messages: list[CheckMessage] = []
    if migrate.cookie_name == options.name:
        messages.append(
            Error(
                f"EXPRESS_SESSION['migrateFrom'] reads the cookie {migrate.cookie_name!r}, "
                "which is also this package's cookie name.",
                hint="The old cookie and the express cookie need different names.",
                id="django_express_session.E023",
            )
        )
    if (
        options.cookie_function is None
        and options.cookie.given.get("maxAge") is None
        and not settings.SESSION_EXPIRE_AT_BROWSER_CLOSE
    ):
        messages.append(
            Warning(
                "The old engine's cookies lasted SESSION_COOKIE_AGE "
                f"({settings.SESSION_COOKIE_AGE} s); the express cookie has no maxAge, so "
                "it ends when the browser closes.",
                hint="Set EXPRESS_SESSION['cookie']['maxAge'] (milliseconds), e.g. "
                f"{settings.SESSION_COOKIE_AGE * 1000}, or SESSION_COOKIE_AGE in settings.",
                id="django_express_session.W022",
            )
        )
    return messages


@register(Tags.compatibility)
def check_django_session_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Django ``SESSION_*`` settings that have no effect, or that ``EXPRESS_SESSION``
    overrules, and a ``maxAge`` that looks like seconds."""
    options = get_options()
    messages: list[CheckMessage] = []
    for name, instead in django_settings.reported(options.migrate_from is not None):
        messages.append(
            Warning(
                f"{name} is set but has no effect on this package's sessions.",
                hint=instead[0].upper() + instead[1:] + ".",
                id="django_express_session.W023",
            )
        )
    for name, option, wanted, given in django_settings.conflicts(
        getattr(settings, "EXPRESS_SESSION", None) or {}
    ):
        if name == "SESSION_COOKIE_AGE":  # seconds there, milliseconds here: say both
            said = f"{name} is {getattr(settings, name)} s ({wanted} ms)"
            option_value = f"{given!r} ms"
        else:
            said, option_value = f"{name} says {wanted!r}", repr(given)
        messages.append(
            Warning(
                f"{said} but EXPRESS_SESSION['{option}'] is {option_value}; "
                "the EXPRESS_SESSION value is used.",
                hint=f"Remove {name}, or make the two agree.",
                id="django_express_session.W024",
            )
        )
    seconds = _max_age_in_seconds(options.cookie.given.get("maxAge"))
    if seconds is not None:
        messages.append(
            Warning(
                f"EXPRESS_SESSION['cookie']['maxAge'] is {seconds.value}: milliseconds, so "
                f"sessions end {_duration(seconds.value / 1000)} after the last request"
                f"{seconds.because}.",
                hint="maxAge is in milliseconds, as in express; "
                f"{_plain(seconds.value)} seconds is {int(seconds.value * 1000)}.",
                id="django_express_session.W025",
            )
        )
    return messages


DAY_SECONDS = 24 * 3600
MINUTE_MS = 60_000
#: Django's default SESSION_COOKIE_AGE (two weeks, in seconds).
DJANGO_DEFAULT_COOKIE_AGE = 1_209_600


class _Seconds(NamedTuple):
    value: float
    because: str  # why it looks like seconds ("" when it is merely short)


def _max_age_in_seconds(max_age: Any) -> _Seconds | None:
    """A ``maxAge`` that looks like seconds: under a minute as milliseconds, equal to
    SESSION_COOKIE_AGE or Django's default (both seconds), or a whole number of days
    counted in seconds that is no whole number of minutes in milliseconds (so 3 h,
    10 800 000, which is also 125 days in seconds, passes)."""
    if isinstance(max_age, bool) or not isinstance(max_age, (int, float)) or max_age <= 0:
        return None
    if max_age in (settings.SESSION_COOKIE_AGE, DJANGO_DEFAULT_COOKIE_AGE):
        return _Seconds(max_age, ", though it equals SESSION_COOKIE_AGE (seconds)")
    if max_age % DAY_SECONDS == 0 and max_age % MINUTE_MS != 0:
        days = int(max_age // DAY_SECONDS)
        return _Seconds(max_age, f", though it is {days} day{'s' * (days != 1)} in seconds")
    if max_age < 60_000:
        return _Seconds(max_age, "")
    return None


def _plain(number: float) -> str:
    """``1209600``, ``1.5``: a number as written, never in exponent form."""
    return str(int(number)) if number == int(number) else str(number)


def _duration(seconds: float) -> str:
    """``20 min``, ``1.2 h``, ``45 s``: short, in the unit a person reads."""
    if seconds < 120:
        return f"{seconds:g} s"
    if seconds < 7200:
        return f"{seconds / 60:.3g} min"
    return f"{seconds / 3600:.3g} h"


def _cache_backend(alias: str) -> str | None:
    config = settings.CACHES.get(alias)
    return None if config is None else config.get("BACKEND")


def _is_subclass(path: str, base: str) -> bool:
    try:
        return issubclass(import_string(path), import_string(base))
    except ImportError:
        return path == base


@register(Tags.compatibility)
def check_store_alias(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The store's ``alias`` names a ``CACHES`` entry of the right kind (the database
    store's alias is checked when the store is built, at start-up)."""
    store = get_options().store
    alias = store.options.get("alias", "default")
    if not isinstance(alias, str):
        return []  # the store's own option check reports it at start-up
    reaches_redis_otherwise = {"client", "sentinels"} & set(store.options)
    if store.backend == STORE_BACKENDS["redis"] and not reaches_redis_otherwise:
        backend = _cache_backend(alias)
        if backend is None:
            problem = f"names no CACHES entry ({sorted(settings.CACHES)})"
        elif not any(
            _is_subclass(backend, kind) for kind in (DJANGO_REDIS_CACHE, DJANGO_VALKEY_CACHE)
        ):
            problem = (
                f"is a {backend}, not a django-redis cache ({DJANGO_REDIS_CACHE}) "
                f"nor a django-valkey one ({DJANGO_VALKEY_CACHE})"
            )
        else:
            return []
    elif store.backend == STORE_BACKENDS["cache"]:
        if _cache_backend(alias) != DUMMY_CACHE:
            return []
        problem = "is Django's DummyCache, which stores nothing: every session would be lost"
    else:
        return []
    return [
        Error(
            f"EXPRESS_SESSION['store']['options']['alias'] {alias!r} {problem}.",
            hint="Point the alias at a CACHES entry of the right kind.",
            id="django_express_session.E024",
        )
    ]
