"""The session's Cookie object (express-session ``session/cookie.js``).

``max_age`` counts down in milliseconds; ``original_max_age`` is what ``touch`` resets it
from; the JSON shape and ``Set-Cookie`` serialisation are express's, attribute for
attribute. Attributes that were never configured stay unset and are left out of the JSON,
as ``undefined`` is in Node.

A stored cookie is untrusted: each attribute read from a record must pass the rules of
cookie@0.7.2's ``serialize`` (which refuses what could add attributes or headers, the fix
of CVE-2024-47764); one that fails is replaced by the configured value, with a warning.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

from . import record
from .core.lifetime import clock

logger = logging.getLogger("django_express_session")

# RFC 6265 section 4.1.1, as cookie@0.7.2 checks them: a cookie name is a token; a value
# is cookie-octets, optionally in double quotes; a domain is dot-separated labels of
# letters, digits and inner hyphens (a leading dot allowed); a path is any printable
# ASCII but ";" (and, as in cookie@0.7.2, "<").
COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
COOKIE_VALUE = re.compile(r'("?)[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*\1')
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
COOKIE_DOMAIN = re.compile(rf"\.?{_LABEL}(?:\.{_LABEL})*", re.IGNORECASE)
COOKIE_PATH = re.compile(r"[\x20-\x3A\x3D-\x7E]*")

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
#: The ``cookie`` option names and the attributes they set.
_ATTRIBUTES = {
    "path": "path",
    "httpOnly": "http_only",
    "secure": "secure",
    "domain": "domain",
    "sameSite": "same_site",
    "partitioned": "partitioned",
    "priority": "priority",
}
_SAME_SITE = {"lax": "Lax", "strict": "Strict", "none": "None"}
_PRIORITY = {"low": "Low", "medium": "Medium", "high": "High"}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
#: What replaces a bad stored attribute: the ``cookie`` options, or a function giving them.
CookieDefaults = Mapping[str, Any] | Callable[[], Mapping[str, Any]]
# What ``new Cookie()`` has for an attribute the options leave out.
_DEFAULTS = {"path": "/", "httpOnly": True}
#: The stored attributes checked one by one (the expiry is read on its own).
_ATTRIBUTE_FIELDS = tuple(
    (key, attribute) for key, attribute in _JSON_FIELDS if key not in ("expires", "originalMaxAge")
)
_ATTRIBUTE_KEYS = frozenset(key for key, _ in _ATTRIBUTE_FIELDS)
_ATTRIBUTE_OF = dict(_ATTRIBUTE_FIELDS)


def attribute_problem(json_key: str, value: Any) -> str | None:
    """Why cookie@0.7.2's ``serialize`` would refuse ``value`` for the attribute
    ``json_key`` (or, for a flag, why it is no boolean); None when it is fine. A falsy
    value is fine: ``serialize`` leaves the attribute out."""
    if json_key in ("secure", "httpOnly", "partitioned"):
        return None if value is None or isinstance(value, bool) else "not a boolean"
    if not value:
        return None
    if json_key == "path":
        if not isinstance(value, str) or not COOKIE_PATH.fullmatch(value):
            return "not a cookie path (printable ASCII without ';')"
    elif json_key == "domain":
        if not isinstance(value, str) or not COOKIE_DOMAIN.fullmatch(value):
            return "not a domain name"
    elif json_key == "priority":
        if not isinstance(value, str) or value.lower() not in _PRIORITY:
            return 'not "low", "medium" or "high"'
    elif (
        json_key == "sameSite"
        and value is not True
        and (not isinstance(value, str) or value.lower() not in _SAME_SITE)
    ):
        return 'not true, "lax", "strict" or "none"'
    return None


def _accepted_attributes(data: Mapping[str, Any]) -> tuple[tuple[str, Any], ...] | None:
    """The stored cookie's attributes (attribute name, value) when every one passes
    ``attribute_problem``, remembered by their values and types: the sessions of one app
    share them, so a read checks them once per process. None when one fails, or when a
    value cannot be remembered (not hashable): the caller checks each, and logs."""
    try:
        return _accepted(tuple((k, type(v), v) for k, v in data.items() if k in _ATTRIBUTE_KEYS))
    except TypeError:  # a list or dict where an attribute goes
        return None


@functools.lru_cache(maxsize=64)
def _accepted(attributes: tuple[tuple[str, type, Any], ...]) -> tuple[tuple[str, Any], ...] | None:
    # The type is part of the key: True and 1 (and 1.0) are equal, and hash alike.
    if any(attribute_problem(key, value) is not None for key, _, value in attributes):
        return None
    return tuple((_ATTRIBUTE_OF[key], value) for key, _, value in attributes)


def configured(json_key: str, given: Mapping[str, Any]) -> Any:
    """The attribute a new session's cookie gets from the ``cookie`` options ``given``
    (``"auto"`` taken as the stricter choice, as there is no request to resolve it
    against), else express's default, else ``UNSET``."""
    if json_key in given:
        value = given[json_key]
        if value == "auto":
            return True if json_key == "secure" else "lax"
        return value
    return _DEFAULTS.get(json_key, UNSET)


def _now() -> datetime:
    return clock.now()


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
        self.set_initial_max_age(milliseconds)
        self.expiry_changed = True

    def set_initial_max_age(self, milliseconds: Any) -> None:
        """The expiry a new cookie gets from ``maxAge`` (milliseconds, a timedelta, a
        moment, or None for a browser-session cookie): not a change of expiry."""
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
        # Clamped to the year 9999: Node accepts lifetimes up to 8.64e15 ms.
        self._expires = record.after_ms(_now(), whole)
        self.original_max_age = whole

    def end_by(self, moment: datetime) -> None:
        """Expire no later than ``moment`` (the absolute cap), leaving
        ``original_max_age`` (what a touch resets from) as it is: a later expiry is
        brought back to it, and a browser-session cookie gets it as its expiry."""
        if not isinstance(self._expires, datetime) or self._expires > moment:
            self._expires = moment

    def last_until(self, moment: datetime) -> None:
        """Expire no earlier than ``moment`` (a session moved from another engine keeps
        its lifetime), leaving ``original_max_age`` as it is; a browser-session cookie
        gets ``moment`` as its expiry, one that never expires (False) is left alone."""
        if self._expires is None or (
            isinstance(self._expires, datetime) and self._expires < moment
        ):
            self._expires = moment

    def reset_max_age(self) -> None:
        """``Session#touch``: expire ``original_max_age`` from now (without express's
        occasional one-millisecond drift)."""
        self.set_initial_max_age(self.original_max_age)

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
    def from_options(
        cls, given: Mapping[str, Any], *, secure_request: Callable[[], bool]
    ) -> Cookie:
        """A new session's cookie (express's ``store.generate``) from the ``cookie``
        options ``given``: ``"auto"`` values resolved by ``secure_request()``, asked once
        and only when needed."""
        cookie = cls()
        secure: bool | None = None
        for key, value in given.items():
            if key in ("secure", "sameSite") and value == "auto":
                if secure is None:
                    secure = secure_request()
                value = secure if key == "secure" else ("none" if secure else "lax")
            if key == "maxAge":
                cookie.set_initial_max_age(value)
            else:
                setattr(cookie, _ATTRIBUTES[key], value)
        return cookie

    @classmethod
    def from_json(
        cls,
        data: dict[str, Any],
        sid: str | None = None,
        *,
        defaults: CookieDefaults | None = None,
    ) -> Cookie:
        """Rebuild a stored cookie (``Store#createSession``): ``expires`` parsed, the stored
        ``originalMaxAge`` kept as it is, and an attribute ``Set-Cookie`` could not carry
        safely replaced by the one the ``cookie`` options (``defaults``) give a new
        session, else express's default (logged at WARNING, naming ``sid`` by a short
        hint). ``defaults`` may be a function giving them, called only then."""
        return cls()._read_json(data, sid, defaults or {})

    def _read_json(
        self,
        data: dict[str, Any],
        sid: str | None,
        defaults: CookieDefaults,
    ) -> Cookie:
        accepted = _accepted_attributes(data)
        if accepted is None:
            self._read_attributes(data, sid, defaults)
        else:
            for attribute, value in accepted:
                setattr(self, attribute, value)
        expires = data.get("expires")
        if isinstance(expires, str):
            try:
                self._expires = record.parse_js_date(expires)
            except ValueError:
                self._expires = None
        else:
            self._expires = False if expires is False else None
        original = data.get("originalMaxAge")
        if original is True or not isinstance(original, (int, float, type(None))):
            original = None
        elif isinstance(original, float) and not abs(original) <= record.JS_DATE_LIMIT_MS:
            original = None  # record.check refuses these; a direct caller gets no crash
        self.original_max_age = original if original is None or original is False else int(original)
        return self

    def _read_attributes(
        self,
        data: dict[str, Any],
        sid: str | None,
        defaults: CookieDefaults,
    ) -> None:
        """The attributes but the expiry, each checked; a bad one replaced (logged)."""
        for json_key, attribute in _ATTRIBUTE_FIELDS:
            if json_key in data:
                value = data[json_key]
                problem = attribute_problem(json_key, value)
                if problem is not None:
                    logger.warning(
                        "session %s: stored cookie.%s %.60r is %s; using the configured value",
                        record.sid_hint(sid),
                        json_key,
                        value,
                        problem,
                    )
                    given = defaults() if callable(defaults) else defaults
                    value = configured(json_key, given)
                setattr(self, attribute, value)

    # -- Set-Cookie -----------------------------------------------------------------------

    def serialize(self, name: str, value: str) -> str:
        """``cookie.serialize(name, value, cookie.data)`` of cookie@0.7.2: attributes in
        express's order, ``Expires`` only (never ``Max-Age``)."""
        return self._serialize(name, value, self._expires)

    def serialize_clearing(self, name: str) -> str:
        """The line that removes the cookie: same scope, empty value, expired (express v2)."""
        return self._serialize(name, "", _EPOCH)

    def _serialize(self, name: str, value: str, expires: Any) -> str:
        # As cookie@0.7.2's serialize, refuse what would add attributes or headers (stored
        # values were checked by from_json; these would come from code).
        if not COOKIE_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a cookie name")
        if not COOKIE_VALUE.fullmatch(value):
            raise ValueError(f"{value!r} is not a cookie value")
        for json_key in ("domain", "path"):
            problem = attribute_problem(json_key, getattr(self, json_key))
            if problem is not None:
                raise ValueError(f"cookie {json_key} {getattr(self, json_key)!r} is {problem}")
        parts = [f"{name}={value}"]
        if self.domain:
            parts.append(f"Domain={self.domain}")
        if self.path:
            parts.append(f"Path={self.path}")
        if isinstance(expires, datetime):
            # The moment formatdate(expires.timestamp()) would print, to the second.
            moment = datetime.fromtimestamp(expires.timestamp(), timezone.utc)
            parts.append("Expires=" + _http_date(moment.replace(microsecond=0)))
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


@functools.lru_cache(maxsize=16)
def _http_date(moment: datetime) -> str:
    """``formatdate``'s text of a whole second (UTC): the requests of one second share it."""
    return format_datetime(moment, usegmt=True)
