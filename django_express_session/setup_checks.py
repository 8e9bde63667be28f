"""The checks a new project meets first: ``EXPRESS_SESSION`` itself (a bad value is a
system-check error, so ``manage.py check``, ``migrate`` and ``shell`` run and say what
is wrong instead of crashing in ``AppConfig.ready``), the file store's directory, and
this app missing from ``INSTALLED_APPS`` (said by the middleware, since without the app
no check of this package runs).

The request path still refuses a bad configuration: the middleware validates the
settings when Django builds it (the server's first request, or a WSGI/ASGI worker's
start), and raises the same ``ImproperlyConfigured``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.core.checks import CheckMessage, Error, Tags
from django.core.checks import register as register_check
from django.core.exceptions import ImproperlyConfigured

from . import conf

APP = "django_express_session"
Check = Callable[..., list[CheckMessage]]


def settings_problem() -> ImproperlyConfigured | None:
    """What is wrong with ``EXPRESS_SESSION`` (its options, or its store's), or None."""
    try:
        conf.get_options()
        conf.get_store()
    except ImproperlyConfigured as error:
        return error
    return None


def register(*tags: str, **kwargs: Any) -> Callable[[Check], Check]:
    """``django.core.checks.register`` for a check that reads the options: one that
    cannot read them reports nothing (``check_settings`` reports why, once)."""

    def decorator(check: Check) -> Check:
        @functools.wraps(check)
        def when_valid(*args: Any, **check_kwargs: Any) -> list[CheckMessage]:
            try:
                return check(*args, **check_kwargs)
            except ImproperlyConfigured:
                return []

        register_check(*tags, **kwargs)(when_valid)
        return check

    return decorator


@register_check(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    problem = settings_problem()
    if problem is None:
        return []
    return [
        Error(
            str(problem),
            hint="Fix EXPRESS_SESSION: requests refuse to run until it is valid.",
            id="django_express_session.E050",
        )
    ]


@register(Tags.compatibility)
def check_file_directory(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The file store's directory exists and can be written, or can be created: else
    every request would be a 503."""
    from .stores.file import FileStore

    store = conf.get_store()
    store = getattr(store, "store", store)  # under migrateFrom's wrapper
    if not isinstance(store, FileStore):
        return []
    problem = store.directory_problem()
    if problem is None:
        return []
    return [
        Error(
            f"The file store's directory {problem}.",
            hint="Point EXPRESS_SESSION['store']['options']['path'] at a directory the "
            "server's user can write (it is created if missing), or fix its permissions: "
            "every request would be a 503.",
            id="django_express_session.E051",
        )
    ]


def require_installed() -> None:
    """The middleware's first words: without this app in ``INSTALLED_APPS`` no check of
    this package runs, its commands (``clearsessions``, ``migratesessions``) are Django's
    or missing, and the database store has no table."""
    from django.apps import apps

    if not apps.is_installed(APP):
        raise ImproperlyConfigured(
            f"{APP}.middleware.SessionMiddleware is in MIDDLEWARE but {APP!r} is not in "
            f"INSTALLED_APPS: add it (before 'django.contrib.sessions', if that stays), so "
            "its system checks, commands and migrations are found."
        )
