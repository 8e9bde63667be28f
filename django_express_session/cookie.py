"""The session's Cookie object (express-session ``session/cookie.js``).

``max_age`` counts down in milliseconds; ``original_max_age`` is what ``touch`` resets it
from; the JSON shape and ``Set-Cookie`` serialisation are express's, attribute for
attribute. Attributes that were never configured stay unset and are left out of the JSON,
as ``undefined`` is in Node.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from email.utils import formatdate
from typing import Any

from . import record

UNSET: Any = type("Unset", (), {"__repr__": lambda self: "UNSET", "__bool__": lambda self: False})()

# Cookie#data key order: the order of the JSON object and of nothing else.
_JSON_FIELDS = (
    ("originalMaxAge", "original_max_age"),
    ("partitioned", "partitioned"),
    ("priority", "priority"),
    ("expires", "_expires"),
    ("secure", "secure"),
    ("httpOnly", "http_only"),
    ("domain", "domain"),
    ("path", "path"),
    ("sameSite", "same_site"),
)
_SAME_SITE = {"lax": "Lax", "strict": "Strict", "none": "None"}
_PRIORITY = {"low": "Low", "medium": "Medium", "high": "High"}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Cookie:
    """A session's cookie: what is stored under ``cookie`` and sent as ``Set-Cookie``."""

    __slots__ = (
        "_expires",
        "domain",
        "expiry_changed",
        "http_only",
        "original_max_age",
        "partitioned",
        "path",
        "priority",
        "same_site",
        "secure",
    )

    def __init__(self) -> None:
        self.original_max_age: int | bool | None = None
        self._expires: datetime | bool | None = None
        self.secure: Any = UNSET
        self.http_only: Any = True
        self.domain: Any = UNSET
        self.path: Any = "/"
        self.same_site: Any = UNSET
        self.partitioned: Any = UNSET
        self.priority: Any = UNSET
        # Set when code changes the expiry, so the browser gets the new one too.
        self.expiry_changed = False

    # -- express's accessors -------------------------------------------------------------

    @property
    def expires(self) -> datetime | bool | None:
        return self._expires

    @expires.setter
    def expires(self, moment: datetime | None) -> None:
        if moment is not None and moment is not False:
            if not isinstance(moment, datetime):
                raise TypeError("expires must be a datetime or None")
            if moment.tzinfo is None:
                raise ValueError("expires must be time-zone aware")
        self._expires = moment
        self.original_max_age = self.max_age
        self.expiry_changed = True

    @property
    def max_age(self) -> int | bool | None:
        """Milliseconds left before the cookie expires (a countdown), or None."""
        if isinstance(self._expires, datetime):
            return math.floor((self._expires - _now()) / timedelta(milliseconds=1))
        return self._expires

    @max_age.setter
    def max_age(self, milliseconds: float | timedelta | datetime | None) -> None:
        self._set_max_age(milliseconds)
        self.expiry_changed = True

    def _set_max_age(self, milliseconds: Any) -> None:
        if isinstance(milliseconds, timedelta):
            milliseconds = milliseconds / timedelta(milliseconds=1)
        if isinstance(milliseconds, datetime):
            self._expires = milliseconds
            self.original_max_age = self.max_age
            return
        if milliseconds is None or milliseconds is False:
            self._expires = milliseconds
            self.original_max_age = milliseconds
            return
        if isinstance(milliseconds, bool) or not isinstance(milliseconds, (int, float)):
            raise TypeError("maxAge must be a number of milliseconds or None")
        whole = math.trunc(milliseconds)
        self._expires = _now() + timedelta(milliseconds=whole)
        self.original_max_age = whole

    def end_by(self, moment: datetime) -> None:
        """Expire no later than ``moment`` (the absolute cap), leaving
        ``original_max_age`` (what a touch resets from) as it is: a later expiry is
        brought back to it, and a browser-session cookie gets it as its expiry."""
        if not isinstance(self._expires, datetime) or self._expires > moment:
            self._expires = moment

    def reset_max_age(self) -> None:
        """``Session#touch``: expire ``original_max_age`` from now (without express's
        occasional one-millisecond drift)."""
        self._set_max_age(self.original_max_age)

    # -- JSON (what stores hold) ----------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for json_key, attribute in _JSON_FIELDS:
            value = getattr(self, attribute)
            if value is UNSET:
                continue
            if isinstance(value, datetime):
                value = record.format_js_date(value)
            data[json_key] = value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Cookie:
        """Rebuild a stored cookie (``Store#createSession``): ``expires`` parsed, the stored
        ``originalMaxAge`` kept as it is."""
        cookie = cls()
        for json_key, attribute in _JSON_FIELDS:
            if json_key in data:
                setattr(cookie, attribute, data[json_key])
        expires = data.get("expires")
        if isinstance(expires, str):
            try:
                cookie._expires = record.parse_js_date(expires)
            except ValueError:
                cookie._expires = None
        elif expires is not False:
            cookie._expires = None
        original = data.get("originalMaxAge")
        if original is True or not isinstance(original, (int, float, type(None))):
            original = None
        cookie.original_max_age = (
            original if original is None or original is False else int(original)
        )
        return cookie

    # -- Set-Cookie -----------------------------------------------------------------------

    def serialize(self, name: str, value: str) -> str:
        """``cookie.serialize(name, value, cookie.data)`` of cookie@0.7.2: attributes in
        express's order, ``Expires`` only (never ``Max-Age``)."""
        return self._serialize(name, value, self._expires)

    def serialize_clearing(self, name: str) -> str:
        """The line that removes the cookie: same scope, empty value, expired (express v2)."""
        return self._serialize(name, "", _EPOCH)

    def _serialize(self, name: str, value: str, expires: Any) -> str:
        parts = [f"{name}={value}"]
        if self.domain:
            parts.append(f"Domain={self.domain}")
        if self.path:
            parts.append(f"Path={self.path}")
        if isinstance(expires, datetime):
            parts.append("Expires=" + formatdate(expires.timestamp(), usegmt=True))
        if self.http_only:
            parts.append("HttpOnly")
        if self.secure:
            parts.append("Secure")
        if self.partitioned:
            parts.append("Partitioned")
        # Options are validated at start-up; a stored value Node would reject is left out.
        priority = _PRIORITY.get(str(self.priority).lower()) if self.priority else None
        if priority:
            parts.append("Priority=" + priority)
        if self.same_site is True:
            parts.append("SameSite=Strict")
        elif self.same_site and str(self.same_site).lower() in _SAME_SITE:
            parts.append("SameSite=" + _SAME_SITE[str(self.same_site).lower()])
        return "; ".join(parts)

    def __repr__(self) -> str:
        return f"Cookie({self.to_json()!r})"
