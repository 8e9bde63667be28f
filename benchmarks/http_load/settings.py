"""Settings of the Django servers of the benchmark: one project, configured per server by
``BENCH_CONFIG`` (JSON, set by ``servers.py``), so every variant serves the same views
through the same stack and differs only in its session middleware and store.

``BENCH_CONFIG`` keys: ``sessions`` ("none", "django" or "express"), ``async`` (the
views the URLconf routes to), ``caches``, ``databases``, ``express_session`` (this
package's options), ``django_session_cache`` (the cache alias of Django's cache engine)
and ``django_session_engine`` ("cache", the default, or "db").
"""

import json
import os

CONFIG = json.loads(os.environ["BENCH_CONFIG"])

SECRET_KEY = "benchmark only, not a secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "benchmarks.http_load.urls"
USE_TZ = True
BENCH_ASYNC = CONFIG["async"]

# No other middleware: the no-session server is the bare request/response cost, and every
# other variant adds only its session middleware to it.
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    **CONFIG.get("caches", {}),
}
DATABASES = CONFIG.get("databases", {})

if CONFIG["sessions"] == "django":
    INSTALLED_APPS = ["django.contrib.sessions"]
    MIDDLEWARE = ["django.contrib.sessions.middleware.SessionMiddleware"]
    SESSION_ENGINE = (
        f"django.contrib.sessions.backends.{CONFIG.get('django_session_engine', 'cache')}"
    )
    SESSION_CACHE_ALIAS = CONFIG.get("django_session_cache", "default")
    SESSION_COOKIE_AGE = 86_400  # the same day as the others' maxAge
elif CONFIG["sessions"] == "express":
    INSTALLED_APPS = ["django_express_session"]
    MIDDLEWARE = ["django_express_session.middleware.SessionMiddleware"]
    SESSION_ENGINE = "django_express_session.session"
    EXPRESS_SESSION = CONFIG["express_session"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
}
