"""Settings of the Django server the interop tests start beside the Express app.

The test project's settings, with the ``EXPRESS_SESSION`` under test and whatever the
store needs (``CACHES``, ``DATABASES``) passed by the harness as JSON in environment
variables, so one Django process serves one configuration.
"""

import json
import os

from testproject.settings import *  # noqa: F403

EXPRESS_SESSION = json.loads(os.environ["INTEROP_EXPRESS_SESSION"])
CACHES = {**CACHES, **(json.loads(os.environ.get("INTEROP_CACHES") or "null") or {})}  # noqa: F405
DATABASES = {**DATABASES, **(json.loads(os.environ.get("INTEROP_DATABASES") or "null") or {})}  # noqa: F405
ROOT_URLCONF = "tests.interop.urls"
PASSWORD_HASHERS = ["tests.interop.auth_views.QuickPBKDF2PasswordHasher"]
DEBUG = False
LOGGING = {"version": 1, "disable_existing_loggers": False}
