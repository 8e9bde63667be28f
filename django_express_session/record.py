"""The stored session record: express-session's JSON, byte for byte.

A record is ``{"cookie": {...}, **data}``: what ``JSON.stringify(req.session)`` gives in
Node. ``dumps`` writes what ``JSON.stringify`` would (compact separators, non-ASCII raw,
JavaScript number formatting), ``loads`` refuses anything express-session itself could
not load or that is outside the decoder's limits (see ``check``), and ``Changes`` is the part of a record one request changed, which stores
apply onto the latest stored record so concurrent requests do not overwrite each other.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from .core.lifetime import now_ms as now_ms  # the clock, for the stores
from .exceptions import CorruptRecord

try:
    import orjson
except ImportError:  # pragma: no cover - a dependency; an interpreter without its wheel
    orjson = None  # type: ignore[assignment]

Record = dict[str, Any]

_SEPARATORS = (",", ":")
_encode_string = json.encoder.c_encode_basestring or json.encoder.py_encode_basestring
_JS_SAFE_INTEGER = 2**53

#: How deeply objects and arrays may nest in a record (the record itself is level 1).
#: Deeper records are refused on read (``CorruptRecord``) and on write (``ValueError``).
MAX_DEPTH = 64
#: A JavaScript Date holds at most this many milliseconds either side of the epoch.
JS_DATE_LIMIT_MS = 8_640_000_000_000_000
#: The moments Python's datetime can hold; a later (or earlier) date that Node accepts
#: is clamped to these. (Whole seconds, so a store's ceil() to seconds stays in range.)
LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc)
EARLIEST = datetime(1, 1, 1, tzinfo=timezone.utc)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# Date#toJSON's form for years outside 0..9999: a sign and six digits.
_EXTENDED_YEAR = re.compile(r"([+-])(\d{6})(-.*)", re.DOTALL)
# The Gregorian calendar repeats every 400 years, which are 146 097 days.
_GREGORIAN_CYCLE_DAYS = 146_097


def sid_hint(sid: Any) -> str:
    """Enough of a session id to correlate log lines, not enough to hijack it."""
    return f"{sid[:6]}…" if isinstance(sid, str) else "(id not known)"


def format_js_date(moment: datetime) -> str:
    """``Date.prototype.toJSON``: UTC, milliseconds, ``Z``."""
    m = moment.astimezone(timezone.utc)
    return (
        f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}"
        f".{m.microsecond // 1000:03d}Z"
    )


@functools.lru_cache(maxsize=1024)  # a request parses its cookie's expires several times
def parse_js_date(text: str) -> datetime:
    """Parse an ISO-8601 timestamp as V8 does for the forms stores hold.

    Raises ``ValueError`` for a zone-less timestamp (V8 reads it as local time, so no
    store should hold one and guessing would be wrong), for text that is no date, and
    for a moment a JavaScript Date cannot hold (over 8.64e15 ms from the epoch). A
    moment Node accepts but Python's datetime cannot hold (past the year 9999, or
    before the year 1, such as Node's ``+033658-09-27T01:46:40.000Z``) is clamped to
    ``LATEST`` or ``EARLIEST``: for an expiry that far away, the difference is moot.
    """
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    extended = _EXTENDED_YEAR.fullmatch(value)
    if extended:
        year = int(extended[2]) * (-1 if extended[1] == "-" else 1)
        if extended[1] == "-" and year == 0:
            raise ValueError(f"-000000 is not a year: {text!r}")
        if not 1 <= year <= 9999:
            return _clamped(_far_moment_ms(year, extended[3], text))
        value = f"{year:04d}{extended[3]}"
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {text!r}")
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError:  # within a day of the year 1 or 9999, in another zone
        return LATEST if moment.year > 1 else EARLIEST


def _far_moment_ms(year: int, rest: str, text: str) -> int:
    """Epoch milliseconds of a date outside the years 1..9999 (proleptic Gregorian, as
    JavaScript's), by moving it a whole number of 400-year cycles into range."""
    cycles = (year - 2000) // 400
    moment = datetime.fromisoformat(f"{year - cycles * 400:04d}{rest}")
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {text!r}")
    offset = moment.replace(tzinfo=None) - moment.utcoffset() - _EPOCH.replace(tzinfo=None)
    ms = offset // timedelta(milliseconds=1) + cycles * _GREGORIAN_CYCLE_DAYS * 86_400_000
    if abs(ms) > JS_DATE_LIMIT_MS:
        raise ValueError(f"{text!r} is outside the range of a JavaScript Date")
    return ms


def _clamped(ms: int) -> datetime:
    return LATEST if ms > 0 else EARLIEST


def after_ms(start: datetime, milliseconds: int) -> datetime:
    """``start`` plus ``milliseconds``, clamped to the moments datetime can hold (a
    lifetime Node accepts, up to 8.64e15 ms, can reach past the year 9999)."""
    try:
        return start + timedelta(milliseconds=milliseconds)
    except OverflowError:
        return LATEST if milliseconds > 0 else EARLIEST


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


def _too_deep() -> ValueError:
    return ValueError(f"session data nested deeper than {MAX_DEPTH} levels")


def _plain(value: Any, depth: int = 1) -> tuple[Any, bool]:
    """Turn floats into what ``JSON.stringify`` prints; say if a float stays that Python
    would print differently (tiny or huge exponents)."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return None, False
        if value.is_integer() and abs(value) < 1e21:
            return int(value), False
        return value, "e" in repr(value) or abs(value) < 1e-4
    if isinstance(value, (dict, list, tuple)) and depth > MAX_DEPTH:
        raise _too_deep()
    if isinstance(value, dict):
        tricky = False
        out = {}
        for key, item in value.items():
            out[key], item_tricky = _plain(item, depth + 1)
            tricky = tricky or item_tricky
        return out, tricky
    if isinstance(value, (list, tuple)):
        tricky = False
        items = []
        for item in value:
            plain, item_tricky = _plain(item, depth + 1)
            items.append(plain)
            tricky = tricky or item_tricky
        return items, tricky
    return value, False


def _reject(value: Any) -> Any:
    raise TypeError(
        f"session values must be JSON types (dict, list, str, int, float, bool, None); "
        f"got {type(value).__name__}"
    )


def _string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _key(key: Any) -> str:
    # The keys json.dumps accepts, written as it writes them.
    if isinstance(key, str):
        return _string(key)
    if key is True:
        return '"true"'
    if key is False:
        return '"false"'
    if key is None:
        return '"null"'
    if isinstance(key, float):
        return '"' + _js_float(key) + '"'
    if isinstance(key, int):
        return '"' + int.__repr__(key) + '"'
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def _encode(value: Any, out: list[str]) -> None:
    """``JSON.stringify`` of a value ``_plain`` made (floats left only where JavaScript
    prints them differently from Python), appended to ``out``."""
    if isinstance(value, str):
        out.append(_string(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        out.append(_js_float(value))
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(item, out)
        out.append("]")
    elif isinstance(value, dict):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                out.append(",")
            out.append(_key(key))
            out.append(":")
            _encode(item, out)
        out.append("}")
    else:
        _reject(value)


def dumps(value: Any) -> str:
    """Serialise as ``JSON.stringify`` does. ``TypeError`` for a value that is not a JSON
    type, ``ValueError`` for one nested deeper than ``MAX_DEPTH``.

    Fast path: the C encoder's output is already ``JSON.stringify``'s unless a float in
    it prints differently in JavaScript (``1.0``, ``1e-05``, ``NaN``) or it nests too
    deep; text that may hold either (a match inside a string only costs the slow path)
    goes through ``exact_dumps``, which decides."""
    try:
        text = _fast_encode(value)
    except (TypeError, ValueError, RecursionError):
        return exact_dumps(value)  # it raises the error this function documents
    if _may_differ(text) or _may_be_too_deep(text):
        return exact_dumps(value)
    return text


def exact_dumps(value: Any) -> str:
    """``dumps`` the slow, always exact way: every float turned into what JavaScript
    prints, every level counted."""
    plain, tricky = _plain(value)
    if not tricky:
        return json.dumps(
            plain, separators=_SEPARATORS, ensure_ascii=False, allow_nan=False, default=_reject
        )
    # Rare: floats such as 1e-7 print differently in Python and JavaScript.
    out: list[str] = []
    _encode(plain, out)
    return "".join(out)


# Built once: ``json.dumps(**options)`` builds an encoder per call. NaN is allowed here
# only so that it shows in the text (``_may_differ``) and takes the exact path.
_FAST_ENCODER = json.JSONEncoder(
    separators=_SEPARATORS, ensure_ascii=False, allow_nan=True, default=_reject
)
# ``JSONEncoder.encode`` still builds a C encoder on every call: this one is built once.
# Without a record of the containers seen, a value that contains itself recurses until
# ``RecursionError``, which sends it to ``exact_dumps`` (which says so).
_C_ENCODER = (
    None
    if json.encoder.c_make_encoder is None
    else json.encoder.c_make_encoder(
        None, _reject, _encode_string, None, ":", ",", False, False, True
    )
)


def _fast_encode(value: Any) -> str:
    """The C encoder's text of ``value`` (``_FAST_ENCODER``'s, built once)."""
    if _C_ENCODER is None:  # an interpreter without the C accelerator
        return _FAST_ENCODER.encode(value)
    return "".join(_C_ENCODER(value, 0))


# Where Python's float text may differ from JavaScript's: an integral float (``1.0``),
# an exponent (Python from 1e16 and below 1e-4, JavaScript from 1e21 and below 1e-6;
# Python's always has a sign, so a hex digest's "0e4" is no match), or a non-finite
# number. Two patterns, not one alternation: ``re`` scans an alternation of unlike
# branches some thirty times slower (15 µs for a 1 KB record whose cookie expires at
# ".0…Z", against 0.5).
_INTEGRAL_FLOAT = re.compile(r"\.0(?![0-9])")
_EXPONENT = re.compile(r"[0-9]e[+-]")


def _may_differ(text: str) -> bool:
    # Substring scans first: most records hold none of these.
    return (
        "NaN" in text
        or "Infinity" in text
        or (".0" in text and _INTEGRAL_FLOAT.search(text) is not None)
        or (("e+" in text or "e-" in text) and _EXPONENT.search(text) is not None)
    )


def _may_be_too_deep(text: str | bytes | bytearray) -> bool:
    """Nesting needs one bracket per level: text with at most ``MAX_DEPTH`` opening
    brackets (strings' included) cannot nest deeper than that. (In UTF-8 bytes, no
    byte of a multi-byte character is a bracket.)"""
    if isinstance(text, str):
        return text.count("{") + text.count("[") > MAX_DEPTH
    return text.count(b"{") + text.count(b"[") > MAX_DEPTH


def _refuse_constant(name: str) -> Any:
    raise CorruptRecord(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise CorruptRecord("stored session holds a number JSON cannot hold (1e400?)")
    return value


# One decoder, built once, that refuses non-finite numbers as it parses them, so the
# check walk is left with the depth only, and runs only when the text may be too deep.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


def _json_text(raw: str | bytes | bytearray) -> str:
    """What ``json.loads`` decodes ``raw`` as (the same encodings, the same BOM rule)."""
    if isinstance(raw, str):
        if raw.startswith("\ufeff"):
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", raw, 0)
        return raw
    return raw.decode(json.detect_encoding(raw), "surrogatepass")


# Every byte a digit maps to "0", every other byte to a space: a run of 19 zeros in the
# translation is a run of 19 digits in the text.
_DIGITS_AS_ZEROS = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_DIGIT_RUN = b"0" * 19


def _by_orjson(raw: str | bytes | bytearray) -> Any:
    """orjson's decoding of ``raw`` where it is surely ``json``'s (some four times
    faster, measured on a 1 KB record); None: let ``json`` decode it. orjson refuses
    whatever ``json`` with ``_DECODER``'s hooks refuses (a non-finite number, NaN,
    bad UTF-8), and more (a BOM, a lone surrogate, nesting past 1024), which ``json``
    then judges; it differs only on integers past 64 bits, which it reads as floats:
    text with a run of 19 digits, which any of those needs, is left to ``json``."""
    if orjson is None:
        return None
    if isinstance(raw, str):
        try:
            data = raw.encode()
        except UnicodeEncodeError:  # a lone surrogate: orjson refuses it
            return None
    else:
        data = raw
    if _LONG_DIGIT_RUN in data.translate(_DIGITS_AS_ZEROS):
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def loads(raw: str | bytes | bytearray) -> Record:
    """Decode a stored record; raise ``CorruptRecord`` for anything express cannot load.
    The same verdict as ``check(json.loads(raw))`` (``exact_loads``), cheaper: orjson
    decodes where it surely agrees (``_by_orjson``), else numbers are judged by the
    decoder; the depth walk runs only when the text could be too deep."""
    text: str | bytes | bytearray = raw
    record = _by_orjson(raw)
    if record is None:
        try:
            text = _json_text(raw)
            record = _DECODER.decode(text)
        except (ValueError, UnicodeDecodeError, RecursionError) as error:
            if isinstance(error, CorruptRecord):
                raise
            raise CorruptRecord(f"stored session is not JSON: {error}") from None
    _check_shape(record)
    if _may_be_too_deep(text):
        _check_values(record)
    return record


def exact_loads(raw: str | bytes | bytearray) -> Record:
    """``loads`` the slow way: decode, then walk every value (what ``loads`` must agree
    with, for the tests)."""
    try:
        record = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        if isinstance(error, CorruptRecord):
            raise
        raise CorruptRecord(f"stored session is not JSON: {error}") from None
    return check(record)


_COOKIE_FIRST = '{"cookie":'


def with_cookie(text: str, cookie: Mapping[str, Any]) -> str:
    """``dumps({**loads(text), "cookie": cookie})`` for ``text`` that ``dumps`` wrote
    (a store's own): with the cookie first, as every record this package builds has
    it, only the old cookie is decoded and checked, and the rest is kept as it is,
    which is what decoding and encoding it again would give (``dumps`` writes no
    number JSON cannot hold, nothing too deep)."""
    if text.startswith(_COOKIE_FIRST):
        try:
            old, end = _DECODER.raw_decode(text, len(_COOKIE_FIRST))
        except ValueError:  # CorruptRecord included: the full decode below says so
            end = 0
        if end and text[end : end + 1] in (",", "}"):
            _check_shape({"cookie": old})
            return _COOKIE_FIRST + dumps(cookie) + text[end:]
    return dumps({**loads(text), "cookie": cookie})


def check(record: Any) -> Record:
    """The decoded record, if it is one this package can serve; else ``CorruptRecord``.

    The rule: a JSON object with a ``cookie`` object, nested at most ``MAX_DEPTH``
    levels, every number finite, ``cookie.originalMaxAge`` (if a number) within what a
    JavaScript Date accepts (8.64e15 ms either way), and ``cookie.expires`` (if a
    string) a date with a time zone within that range too. A date Node accepts beyond
    the year 9999 is clamped when read (``parse_js_date``), never refused.
    """
    _check_shape(record)
    _check_values(record)
    return record


def _check_shape(record: Any) -> None:
    """``check`` without the walk of every value."""
    if not isinstance(record, dict):
        raise CorruptRecord(f"stored session is a JSON {type(record).__name__}, not an object")
    cookie = record.get("cookie")
    if not isinstance(cookie, dict):
        raise CorruptRecord("stored session has no cookie object")
    original = cookie.get("originalMaxAge")
    if (
        isinstance(original, (int, float))
        and not isinstance(original, bool)
        and not abs(original) <= JS_DATE_LIMIT_MS
    ):
        raise CorruptRecord(
            f"stored cookie.originalMaxAge {original!r:.30} is beyond a JavaScript Date's range"
        )
    expires = cookie.get("expires")
    if isinstance(expires, str):
        try:
            parse_js_date(expires)
        except ValueError:
            raise CorruptRecord(
                f"stored cookie.expires {expires!r:.60} is not a date a JavaScript Date holds"
            ) from None


def _check_values(record: Record) -> None:
    """Depth and finite numbers, without recursion (a hostile record can be deep)."""
    stack: list[tuple[Any, int]] = [(record, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, float):
            if not math.isfinite(value):
                raise CorruptRecord("stored session holds a number JSON cannot hold (1e400?)")
        elif isinstance(value, (dict, list)):
            if depth > MAX_DEPTH:
                raise CorruptRecord(f"stored session is nested deeper than {MAX_DEPTH} levels")
            items = value.values() if isinstance(value, dict) else value
            stack.extend((item, depth + 1) for item in items)


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


@dataclass(slots=True)
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
    """Each top-level value's JSON: what ``diff`` compares against later (and what
    ``tracking`` digests: the same text as ``dumps``)."""
    return {key: _value_json(value) for key, value in data.items()}


def _value_json(value: Any) -> str:
    """``dumps(value)``, with the commonest scalars written directly."""
    kind = type(value)
    if kind is str:
        return _encode_string(value)
    if kind is int:
        return int.__repr__(value)
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    return dumps(value)
