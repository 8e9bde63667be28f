"""Django's ``SESSION_*`` settings, honoured or reported.

A project switching from ``django.contrib.sessions`` may have set them; none is silently
ignored. Where ``EXPRESS_SESSION`` does not set the equivalent option, an explicitly set
Django setting (one the settings module sets: ``settings.is_overridden``) maps onto it
(``MAPPED``); the others are reported by a system check (``reported``), as is a Django
setting whose ``EXPRESS_SESSION`` equivalent is set to something else (that one wins).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def _seconds_to_ms(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ImproperlyConfigured(f"SESSION_COOKIE_AGE must be a number of seconds, not {value!r}")
    return int(value * 1000)


def _same_site(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value  # Django's False: no attribute


def _same(value: Any) -> Any:
    return value


#: Django setting -> (cookie option or None for a top-level option, option, conversion).
MAPPED: dict[str, tuple[str | None, str, Callable[[Any], Any]]] = {
    "SESSION_COOKIE_AGE": ("cookie", "maxAge", _seconds_to_ms),
    "SESSION_COOKIE_SECURE": ("cookie", "secure", bool),
    "SESSION_COOKIE_HTTPONLY": ("cookie", "httpOnly", bool),
    "SESSION_COOKIE_SAMESITE": ("cookie", "sameSite", _same_site),
    "SESSION_COOKIE_DOMAIN": ("cookie", "domain", _same),
    "SESSION_COOKIE_PATH": ("cookie", "path", _same),
    "SESSION_SAVE_EVERY_REQUEST": (None, "rolling", bool),
}


def _given(name: str) -> bool:
    return settings.is_overridden(name)


def _mapped(name: str) -> bool:
    """Whether the Django setting ``name`` is mapped (set, and not overruled by Django's
    own rule that a browser-session cookie ignores ``SESSION_COOKIE_AGE``)."""
    if not _given(name) or getattr(settings, name) is None:
        return False
    return not (name == "SESSION_COOKIE_AGE" and _browser_session())


def _browser_session() -> bool:
    return _given("SESSION_EXPIRE_AT_BROWSER_CLOSE") and bool(
        settings.SESSION_EXPIRE_AT_BROWSER_CLOSE
    )


def with_django_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with the options it leaves out filled in from Django's settings."""
    merged = dict(config)
    given = config.get("cookie")
    # (A cookie option that is not a dict is left for the option check to report.)
    cookie = dict(given) if isinstance(given, Mapping) else {} if given is None else None
    for name, (section, option, convert) in MAPPED.items():
        if not _mapped(name):
            continue
        if section is None:
            merged.setdefault(option, convert(getattr(settings, name)))
        elif cookie is not None and option not in cookie:
            cookie[option] = convert(getattr(settings, name))
    if cookie is not None and (cookie or "cookie" in config):
        merged["cookie"] = cookie
    return merged


def conflicts(config: Mapping[str, Any]) -> list[tuple[str, str, Any, Any]]:
    """(Django setting, option, Django's value converted, the option's value) for each
    Django setting the user set whose ``EXPRESS_SESSION`` equivalent says otherwise."""
    found = []
    cookie = config.get("cookie") if isinstance(config.get("cookie"), Mapping) else {}
    for name, (section, option, convert) in MAPPED.items():
        if not _mapped(name):
            continue
        given = config if section is None else cookie
        if option in given:
            try:
                wanted = convert(getattr(settings, name))
            except ImproperlyConfigured:
                continue
            if given[option] != wanted:
                label = option if section is None else f"cookie']['{option}"
                found.append((name, label, wanted, given[option]))
    if _browser_session() and cookie.get("maxAge") is not None:
        # Django's browser-session cookie has no maxAge, and the one set here wins.
        found.append(
            ("SESSION_EXPIRE_AT_BROWSER_CLOSE", "cookie']['maxAge", None, cookie["maxAge"])
        )
    return found


#: Settings of Django's engines this package cannot honour, with what to do instead.
#: SESSION_COOKIE_NAME, SESSION_CACHE_ALIAS, SESSION_FILE_PATH and SESSION_SERIALIZER
#: configure the old engine under ``migrateFrom`` and are reported only without it.
REPORTED = {
    "SESSION_COOKIE_NAME": "this package's cookie is EXPRESS_SESSION['name'] (default "
    "'connect.sid'); set 'name' to keep the old name, or set 'migrateFrom' to move the "
    "sessions of the old cookie over",
    "SESSION_CACHE_ALIAS": "the store is EXPRESS_SESSION['store'] (the cache store takes "
    "an 'alias' option)",
    "SESSION_FILE_PATH": "the store is EXPRESS_SESSION['store'] (the file store takes a "
    "'path' option)",
    "SESSION_SERIALIZER": "records are always JSON, as express stores them",
}
OLD_ENGINE_SETTINGS = {
    "SESSION_COOKIE_NAME", "SESSION_CACHE_ALIAS", "SESSION_FILE_PATH", "SESSION_SERIALIZER",
}  # fmt: skip
JSON_SERIALIZER = "django.contrib.sessions.serializers.JSONSerializer"


def reported(migrating: bool) -> list[tuple[str, str]]:
    """(setting, what to do) for each Django setting the user set that has no effect."""
    found = []
    for name, instead in REPORTED.items():
        if not _given(name) or (migrating and name in OLD_ENGINE_SETTINGS):
            continue
        if name == "SESSION_SERIALIZER" and settings.SESSION_SERIALIZER == JSON_SERIALIZER:
            continue
        found.append((name, instead))
    if _given("SESSION_COOKIE_AGE") and _browser_session():
        found.append(
            (
                "SESSION_COOKIE_AGE",
                "SESSION_EXPIRE_AT_BROWSER_CLOSE makes the cookie a browser-session cookie "
                "(no maxAge), as in Django; the store keeps such sessions for its own 'ttl'",
            )
        )
    return found
