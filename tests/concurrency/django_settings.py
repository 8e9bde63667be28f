"""Settings of the race server with Django's own session framework (the anchor):
``django.contrib.sessions`` middleware and the engine named by ``RACE_SESSION_ENGINE``
(``db``, ``cache`` or ``file``), on the files and caches ``RACE_SETTINGS`` names."""

import json
import os

from testproject.settings import *  # noqa: F403

globals().update(json.loads(os.environ.get("RACE_SETTINGS", "{}")))

INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.sessions"]
ROOT_URLCONF = "tests.concurrency.urls"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
MIDDLEWARE = ["django.contrib.sessions.middleware.SessionMiddleware"]
SESSION_ENGINE = "django.contrib.sessions.backends." + os.environ["RACE_SESSION_ENGINE"]
SESSION_SERIALIZER = "django.contrib.sessions.serializers.JSONSerializer"
