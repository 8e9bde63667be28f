"""The project after the switch: this package's middleware and engine, with
``EXPRESS_SESSION["migrateFrom"]`` naming the old engine (from ``RACE_SETTINGS``)."""

import json
import os

from tests.migration.old_settings import *  # noqa: F403

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.messages",
    "django_express_session",
    "django.contrib.sessions",  # the db engine's table, until every session has moved
]
MIDDLEWARE = [
    "django_express_session.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
SESSION_ENGINE = "django_express_session.session"

globals().update(json.loads(os.environ.get("RACE_SETTINGS", "{}")))
