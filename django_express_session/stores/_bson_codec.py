"""The ``session`` value of a connect-mongo document, in either form, and the dates.

With ``stringify: true`` (connect-mongo's default) ``session`` is
``JSON.stringify(session)``; with ``stringify: false`` it is a sub-document in which
``cookie`` has the nine keys of express's ``Cookie#toJSON`` (null where unset) and
``cookie.expires`` is a BSON date, and numbers are what the Node driver makes of a
JavaScript number. Reading accepts both forms whichever one this app writes, since a
Node app sharing the collection may be configured the other way.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta, timezone
from typing import Any

from bson import Int64, ObjectId

from .. import record
from ..exceptions import CorruptRecord
from ..record import Record, format_js_date, parse_js_date, to_epoch_ms

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# What express's Cookie#toJSON returns, in order; connect-mongo stores it as is with
# stringify: false, so unset keys (undefined in Node) become null.
COOKIE_KEYS = (
    "originalMaxAge", "partitioned", "priority", "expires", "secure", "httpOnly", "domain",
    "path", "sameSite",
)  # fmt: skip
UNDEFINED_WHEN_NULL = ("partitioned", "priority", "secure", "domain", "sameSite")
INT32 = 2**31
JS_SAFE_INTEGER = 2**53


def as_date(epoch_ms: int) -> datetime:
    """A BSON date from epoch milliseconds, exact (a float division could lose one)."""
    return EPOCH + timedelta(milliseconds=epoch_ms)


def utcnow() -> datetime:
    return datetime.fromtimestamp(record.now_ms() / 1000, timezone.utc)  # the package's clock


def encode(session: Record, *, stringify: bool) -> str | dict[str, Any]:
    """The ``session`` field connect-mongo writes for ``session``."""
    return record.dumps(session) if stringify else _to_bson(session)


def decode(stored: Any) -> Record:
    """The record a document's ``session`` holds, whichever way it was written."""
    if isinstance(stored, str):
        return record.loads(stored)
    if isinstance(stored, dict):
        session = record.check(_from_bson_value(stored))
        # Keys Node left undefined come back null; drop them so the record is the one
        # written (express treats both alike, and JSON.stringify omits undefined).
        cookie = session["cookie"]
        for key in UNDEFINED_WHEN_NULL:
            if key in cookie and cookie[key] is None:
                del cookie[key]
        return session
    raise CorruptRecord(f"stored session is a BSON {type(stored).__name__}, not a string")


def epoch_ms(value: Any) -> int | None:
    """Epoch milliseconds of a date or a JavaScript date string, else None."""
    if isinstance(value, datetime):
        return to_epoch_ms(value)
    if isinstance(value, str):
        try:
            return to_epoch_ms(parse_js_date(value))
        except ValueError:
            return None
    return None


def _to_bson(session: Record) -> dict[str, Any]:
    """The sub-document connect-mongo writes with ``stringify: false``."""
    cookie = dict(session["cookie"])
    document_cookie = {key: _number(cookie.pop(key, None)) for key in COOKIE_KEYS}
    expires = document_cookie["expires"]
    if isinstance(expires, str):
        # An unparsable date is kept as given (Node would store an Invalid Date).
        with contextlib.suppress(ValueError):
            document_cookie["expires"] = parse_js_date(expires)
    document_cookie.update(_to_bson_value(cookie))
    document: dict[str, Any] = {"cookie": document_cookie}
    for key, value in session.items():
        if key != "cookie":
            document[key] = _to_bson_value(value)
    return document


def _to_bson_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _to_bson_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_to_bson_value(item) for item in value]
    return _number(value)


def _number(value: Any) -> Any:
    # The Node driver writes a JavaScript number as int32 when it fits, else as a double.
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and not -INT32 <= value < INT32
        and abs(value) <= JS_SAFE_INTEGER
    ):
        return float(value)
    return value


def _from_bson_value(value: Any) -> Any:
    """What ``JSON.stringify`` makes of a value the Node driver reads back."""
    if isinstance(value, dict):
        return {key: _from_bson_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_from_bson_value(item) for item in value]
    if isinstance(value, datetime):
        return format_js_date(value)
    if isinstance(value, Int64):
        return int(value)
    if isinstance(value, float) and value.is_integer() and abs(value) <= JS_SAFE_INTEGER:
        return int(value)  # a JavaScript number: the JSON form would read back an int
    if isinstance(value, ObjectId):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise CorruptRecord(f"stored session holds a BSON {type(value).__name__}, not JSON")
