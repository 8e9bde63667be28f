"""Settings of the race server with this package's middleware.

``RACE_SETTINGS`` (JSON) carries what the test configured in-process: at least
``EXPRESS_SESSION``, and the ``CACHES``/``DATABASES`` its store needs.
"""

import json
import os

from testproject.settings import *  # noqa: F403

globals().update(json.loads(os.environ.get("RACE_SETTINGS", "{}")))

ROOT_URLCONF = "tests.concurrency.urls"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
