"""The stored session record: express-session's JSON, byte for byte.

A record is ``{"cookie": {...}, **data}``: what ``JSON.stringify(req.session)`` gives in
Node. ``dumps`` writes what ``JSON.stringify`` would (compact separators, non-ASCII raw,
JavaScript number formatting), ``loads`` refuses anything express-session itself could
not load, and ``Changes`` is the part of a record one request changed, which stores
apply onto the latest stored record so concurrent requests do not overwrite each other.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from json.encoder import _make_iterencode, encode_basestring  # type: ignore[attr-defined]
from typing import Any

from .exceptions import CorruptRecord

Record = dict[str, Any]

_SEPARATORS = (",", ":")
_JS_SAFE_INTEGER = 2**53


def now_ms() -> int:
    return int(time.time() * 1000)


def format_js_date(moment: datetime) -> str:
    """``Date.prototype.toJSON``: UTC, milliseconds, ``Z``."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_js_date(text: str) -> datetime:
    """Parse an ISO-8601 timestamp as V8 does for the forms stores hold.

    Raises ``ValueError`` for a zone-less timestamp: V8 reads it as local time, so no
    store should hold one and guessing would be wrong.
    """
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {text!r}")
    return moment.astimezone(timezone.utc)


def to_epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _js_float(value: float) -> str:
    """``Number.prototype.toString`` for a non-integral finite float."""
    sign, digits_tuple, exponent = Decimal(repr(value)).as_tuple()
    digits = "".join(map(str, digits_tuple)).rstrip("0") or "0"
    point = len(digits_tuple) + int(exponent)  # value = 0.DIGITS x 10**point
    prefix = "-" if sign else ""
    if 0 < point <= 21:
        if len(digits) <= point:
            return prefix + digits + "0" * (point - len(digits))
        return prefix + digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return prefix + "0." + "0" * -point + digits
    power = point - 1
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{prefix}{mantissa}e{'+' if power >= 0 else '-'}{abs(power)}"


def _plain(value: Any) -> tuple[Any, bool]:
    """Turn floats into what ``JSON.stringify`` prints; say if a float stays that Python
    would print differently (tiny or huge exponents)."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return None, False
        if value.is_integer() and abs(value) < 1e21:
            return int(value), False
        return value, "e" in repr(value) or abs(value) < 1e-4
    if isinstance(value, dict):
        tricky = False
        out = {}
        for key, item in value.items():
            out[key], item_tricky = _plain(item)
            tricky = tricky or item_tricky
        return out, tricky
    if isinstance(value, (list, tuple)):
        tricky = False
        items = []
        for item in value:
            plain, item_tricky = _plain(item)
            items.append(plain)
            tricky = tricky or item_tricky
        return items, tricky
    return value, False


def _reject(value: Any) -> Any:
    raise TypeError(
        f"session values must be JSON types (dict, list, str, int, float, bool, None); "
        f"got {type(value).__name__}"
    )


def dumps(value: Any) -> str:
    """Serialise as ``JSON.stringify`` does."""
    plain, tricky = _plain(value)
    if not tricky:
        return json.dumps(
            plain, separators=_SEPARATORS, ensure_ascii=False, allow_nan=False, default=_reject
        )
    # Rare: floats such as 1e-7 print differently in Python and JavaScript.
    encode = _make_iterencode(
        {}, _reject, encode_basestring, None, _js_float, ":", ",", False, False, True
    )
    return "".join(encode(plain, 0))


def _refuse_constant(name: str) -> Any:
    raise CorruptRecord(f"{name} is not JSON")


def loads(raw: str | bytes | bytearray) -> Record:
    """Decode a stored record; raise ``CorruptRecord`` for anything express cannot load."""
    try:
        record = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        if isinstance(error, CorruptRecord):
            raise
        raise CorruptRecord(f"stored session is not JSON: {error}") from None
    return check(record)


def check(record: Any) -> Record:
    if not isinstance(record, dict):
        raise CorruptRecord(f"stored session is a JSON {type(record).__name__}, not an object")
    if not isinstance(record.get("cookie"), dict):
        raise CorruptRecord("stored session has no cookie object")
    return record


def expires_ms(record: Mapping[str, Any]) -> int | None:
    """``cookie.expires`` as epoch milliseconds, or None for a browser-session cookie."""
    expires = record["cookie"].get("expires")
    if not isinstance(expires, str):
        return None
    try:
        return to_epoch_ms(parse_js_date(expires))
    except ValueError:
        return None


def original_max_age(record: Mapping[str, Any]) -> int | None:
    value = record["cookie"].get("originalMaxAge")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


@dataclass(frozen=True)
class Changes:
    """What one request did to a session: top-level keys set or deleted, and its cookie.

    ``apply`` lays them over the latest stored record, keeping that record's key order
    (so a Node reader sees the same shape) and every key this request did not touch.
    """

    cookie: dict[str, Any]
    assigned: dict[str, Any] = field(default_factory=dict)
    deleted: frozenset[str] = frozenset()

    @property
    def data_changed(self) -> bool:
        return bool(self.assigned or self.deleted)

    def apply(self, stored: Mapping[str, Any]) -> Record:
        merged: Record = {"cookie": self.cookie}
        for key, value in stored.items():
            if key == "cookie" or key in self.deleted:
                continue
            merged[key] = self.assigned.get(key, value)
        for key, value in self.assigned.items():
            merged.setdefault(key, value)
        return merged


def diff(
    before: Mapping[str, str], after: Mapping[str, str], data: Mapping[str, Any]
) -> tuple[dict[str, Any], frozenset[str]]:
    """Compare two fingerprints: the keys of ``data`` whose JSON changed, and the keys
    that are gone."""
    assigned = {key: data[key] for key, text in after.items() if before.get(key) != text}
    deleted = frozenset(key for key in before if key not in after)
    return assigned, deleted


def fingerprint(data: Mapping[str, Any]) -> dict[str, str]:
    """Each top-level value's JSON: what ``diff`` compares against later."""
    return {key: dumps(value) for key, value in data.items()}
