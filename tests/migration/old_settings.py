"""The project before the switch: Django's own session framework, with the engine,
databases and caches ``RACE_SETTINGS`` (JSON) names."""

import json
import os

from testproject.settings import *  # noqa: F403

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.messages",
    "django.contrib.sessions",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
SESSION_ENGINE = "django.contrib.sessions.backends.db"
ROOT_URLCONF = "tests.migration.urls"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
CSRF_USE_SESSIONS = True  # the CSRF token lives in the session, and must move over
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

globals().update(json.loads(os.environ.get("RACE_SETTINGS", "{}")))
