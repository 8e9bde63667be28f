"""What the keys of a stored record are, for the keys Django, Express and the stores add
beside the data the demo's views write."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.messages.storage.session import SessionStorage
from django.middleware.csrf import CSRF_SESSION_KEY

from django_express_session.core.state import OWN_KEY

ADDED_KEYS = {
    "cookie": "express-session: the cookie's attributes and expiry (the table above).",
    SESSION_KEY: "django.contrib.auth: the logged-in user's primary key.",
    BACKEND_SESSION_KEY: "django.contrib.auth: the backend that authenticated the user.",
    HASH_SESSION_KEY: "django.contrib.auth: a hash of the user's password hash; a password "
    "change makes it stale, which logs this session out.",
    SessionStorage.session_key: "django.contrib.messages: messages not shown yet.",
    CSRF_SESSION_KEY: "Django's CSRF token, kept here when CSRF_USE_SESSIONS is on.",
    OWN_KEY: "django-express-session: when the user last proved who they are (authAt, "
    "set by login()), when the absolute lifetime started (absoluteMaxAge), and the "
    "client details with track.",
    "passport": "passport (Express): the logged-in user as serializeUser stored it.",
    "__lastAccess": "session-file-store: when the record was last read or written (ms).",
    "lastModified": "connect-mongo: when the record was last written (touchAfter).",
}


def split(stored: dict[str, Any], store_keys: frozenset[str]) -> tuple[dict, list]:
    """The views' own data, and (key, value, what it is) for every key added beside it."""
    data, added = {}, []
    for key, value in stored.items():
        if key in ADDED_KEYS:
            added.append((key, value, ADDED_KEYS[key]))
        elif key in store_keys:
            added.append((key, value, "the store's own bookkeeping."))
        else:
            data[key] = value
    return data, added
