"""The Django demo (testproject) on the Redis that the Express half uses, with the
passport bridge on.

    PYTHONPATH=examples/shared-login DJANGO_SETTINGS_MODULE=shared_login_settings \
        python manage.py runserver 8000
"""

import os

from testproject.settings import *  # noqa: F403

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

CACHES = {
    **CACHES,  # noqa: F405
    "sessions": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": REDIS_URL},
}

EXPRESS_SESSION = {
    **EXPRESS_SESSION,  # noqa: F405  (secret, name, resave, saveUninitialized, cookie)
    "store": {"backend": "redis", "options": {"alias": "sessions", "prefix": "sess:"}},
    # passport's session.passport.user (the username, see app.js) is the login on both.
    "passport": {"field": "username"},
}
