"""Every fast path of the request path against the slow path it stands for, over the same
cases: the decoder that judges numbers as it parses and walks only possibly deep text
(``record.loads`` against ``record.exact_loads``), the C encoder's text (``dumps``
against ``exact_dumps``, and the fingerprints ``tracking`` digests), a stored cookie's
attributes remembered once accepted (against each one checked)."""

from __future__ import annotations

import contextlib
import json
import logging
import math
from unittest import mock

import pytest
from asgiref.sync import async_to_sync
from hypothesis import given, settings
from hypothesis import strategies as st

from django_express_session import record
from django_express_session.cookie import Cookie
from django_express_session.exceptions import CorruptRecord

COOKIE = '"cookie":{"originalMaxAge":86400000,"expires":"2026-12-08T10:00:00.000Z","path":"/"}'


def raw(data: str) -> str:
    return "{" + COOKIE + ("," + data if data else "") + "}"


RECORDS = {
    "tiny": raw('"n":1'),
    "logged in": raw(
        '"_auth_user_id":"7","passport":{"user":"7"},"cart":['
        + ",".join(f'{{"sku":"S{i}","qty":{i},"price":{i}.25}}' for i in range(12))
        + "]"
    ),
    "nested 64 deep (the limit)": raw('"x":' + "[" * 63 + "]" * 63),
    "nested 65 deep": raw('"x":' + "[" * 64 + "]" * 64),
    "nested 1 000 deep": raw('"x":' + "[" * 1000 + "]" * 1000),
    "brackets in strings only": raw('"x":"' + "[{" * 80 + '"'),
    "deep behind brackets in strings": raw('"s":"' + "[" * 80 + '","x":' + "[" * 64 + "]" * 64),
    "a data number 1e400": raw('"n":1e400'),
    "a data number -1e400 deep inside": raw('"a":[{"b":[1,2,{"c":-1e400}]}]'),
    "NaN": raw('"n":NaN'),
    "Infinity": raw('"n":-Infinity'),
    "a float": raw('"n":1.5e300'),
    "an integer of 400 digits": raw('"n":1' + "0" * 400),
    "originalMaxAge 1e400": '{"cookie":{"originalMaxAge":1e400,"path":"/"}}',
    "originalMaxAge 1e17": '{"cookie":{"originalMaxAge":1e17,"path":"/"}}',
    "expires unparsable": '{"cookie":{"expires":"next tuesday"}}',
    "a list": "[" + COOKIE[9:] + "]",
    "a list holding 1e400": "[1e400]",
    "no cookie": '{"n":1}',
    "a cookie string": '{"cookie":"x"}',
    "not JSON": "{",
    "empty": "",
    "a BOM": "\ufeff" + raw(""),
    "a lone surrogate": raw('"s":"\\ud800"'),
}


def verdict(decode, text: str | bytes):
    """What ``decode`` makes of ``text``, as its repr (which tells 1 from 1.0, and 0.0
    from -0.0), or ``CorruptRecord``."""
    try:
        return repr(decode(text))
    except CorruptRecord:
        return CorruptRecord


def decoder(by_orjson: bool):
    """``loads`` with orjson first (a dependency), or without it (an interpreter that
    has no wheel of it), which the json decoder then does alone."""
    return contextlib.nullcontext() if by_orjson else mock.patch.object(record, "orjson", None)


DECODERS = pytest.mark.parametrize("by_orjson", [True, False], ids=["orjson", "json alone"])


@pytest.mark.parametrize("case", list(RECORDS))
@pytest.mark.parametrize("as_bytes", [False, True], ids=["str", "bytes"])
@DECODERS
def test_the_fast_decoder_refuses_and_accepts_what_the_full_walk_does(case, as_bytes, by_orjson):
    text = RECORDS[case].encode("utf-8", "surrogatepass") if as_bytes else RECORDS[case]
    with decoder(by_orjson):
        assert verdict(record.loads, text) == verdict(record.exact_loads, text)


# Integers just past what orjson holds as integers (64 bits), which it would read as floats.
LONG_INTEGERS = [2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**18, -(10**18),
                 10**19, 10**30, -(10**40)]  # fmt: skip


@pytest.mark.parametrize("number", LONG_INTEGERS)
@pytest.mark.parametrize("as_bytes", [False, True], ids=["str", "bytes"])
def test_integers_past_64_bits_decode_exactly(number, as_bytes):
    text = raw(f'"n":{number},"m":[{number}]')
    loaded = record.loads(text.encode() if as_bytes else text)
    assert loaded["n"] == number and loaded["m"] == [number]
    assert type(loaded["n"]) is int


#: JSON values with integers of any size, and floats of every kind.
any_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=20,
)
#: What goes after each comma: JSON whitespace, or characters that are none.
SPACES = ["", " ", "\t\n\r ", "\u00a0", "\x0c", "\ufeff"]


@DECODERS
@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.text(max_size=4), any_json_values, max_size=5),
    st.sampled_from(SPACES),
    st.booleans(),
)
def test_decoding_any_json_text_agrees_with_the_full_walk(by_orjson, data, spaces, as_bytes):
    text = json.dumps({"cookie": {"path": "/"}, **data}, ensure_ascii=False)
    text = text.replace(",", "," + spaces)
    raw_text = text.encode("utf-8", "surrogatepass") if as_bytes else text
    with decoder(by_orjson):
        assert verdict(record.loads, raw_text) == verdict(record.exact_loads, raw_text)


def test_the_hostile_cases_are_refused_by_the_fast_decoder():
    for case in ("nested 65 deep", "nested 1 000 deep", "deep behind brackets in strings",
                 "a data number 1e400", "a data number -1e400 deep inside", "NaN",
                 "originalMaxAge 1e400", "a list holding 1e400"):  # fmt: skip
        with pytest.raises(CorruptRecord):
            record.loads(RECORDS[case])


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=4), inner, max_size=4)
        | st.tuples(inner, inner)
    ),
    max_leaves=20,
)


def encoded(encode, value):
    try:
        return encode(value)
    except (TypeError, ValueError) as error:
        return type(error)


def c_encoder(prebuilt: bool):
    """The fast path with its C encoder built once, or built per call by
    ``JSONEncoder.encode`` (an interpreter without ``c_make_encoder``)."""
    return contextlib.nullcontext() if prebuilt else mock.patch.object(record, "_C_ENCODER", None)


ENCODERS = pytest.mark.parametrize("prebuilt", [True, False], ids=["built once", "per call"])


@ENCODERS
@settings(max_examples=400, deadline=None)
@given(json_values)
def test_the_fast_encoder_writes_what_the_exact_one_does(prebuilt, value):
    with c_encoder(prebuilt):
        assert encoded(record.dumps, value) == encoded(record.exact_dumps, value)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=6), json_values, max_size=6))
def test_fingerprints_are_the_exact_json_of_each_value(data):
    exact = {key: encoded(record.exact_dumps, value) for key, value in data.items()}
    if any(isinstance(text, type) for text in exact.values()):
        with pytest.raises((TypeError, ValueError)):
            record.fingerprint(data)
    else:
        assert record.fingerprint(data) == exact


FLOATS_JAVASCRIPT_PRINTS_DIFFERENTLY = [1.0, -0.0, 0.0, 1e-5, 1e-7, 5e-324, 1e16, 1e21, 1.5e300,
                                        123456789012345680.0, math.nan, math.inf, -math.inf]  # fmt: skip


@pytest.mark.parametrize("number", FLOATS_JAVASCRIPT_PRINTS_DIFFERENTLY)
@pytest.mark.parametrize("shape", ["bare", "in a list", "in a dict", "as a dict key"])
def test_floats_javascript_prints_differently_take_the_exact_path(number, shape):
    value = {"bare": number, "in a list": [number, "x"], "in a dict": {"k": number}}.get(
        shape, {number: 1}
    )
    assert encoded(record.dumps, value) == encoded(record.exact_dumps, value)


SELF_CONTAINING: list[object] = []
SELF_CONTAINING.append({"me": SELF_CONTAINING})


@pytest.mark.parametrize(
    "value",
    [
        "[" * 64 + "]" * 64,  # a string: never too deep
        json.loads("[" * 64 + "]" * 64),  # 64 levels: the limit
        json.loads("[" * 65 + "]" * 65),  # too deep
        {"s": "[" * 100, "v": [[1]]},
        object(),
        {"k": {1, 2}},
        [1, (2, 3)],
        {1: "int key", False: "bool key", None: "none key", 2.5: "float key"},
        SELF_CONTAINING,
    ],
)
@ENCODERS
def test_edge_values_encode_or_fail_alike(value, prebuilt):
    with c_encoder(prebuilt):
        assert encoded(record.dumps, value) == encoded(record.exact_dumps, value)


# -- the redis store's touching read: GETEX against READ_AND_TOUCH --------------------------

HOUR_MS = 3_600_000
FALLBACK_TTL = 600


def stored(max_age: object, **data: object) -> bytes:
    cookie = {"originalMaxAge": max_age, "expires": "2099-01-01T00:00:00.000Z", "path": "/"}
    return record.dumps({"cookie": cookie, **data}).encode()


READS = {
    "the configured maxAge": stored(HOUR_MS, n=1),
    "another maxAge (set_expiry, another app)": stored(90_500, n=1),
    "a maxAge one ms short of it": stored(HOUR_MS - 1, n=1),
    "a browser-session cookie": stored(None, n=1),
    "an expired maxAge": stored(-5000, n=1),
    "originalMaxAge as a string": stored("3600000"),
    "originalMaxAge 1e400": b'{"cookie":{"originalMaxAge":1e400},"views":1}',
    "the configured maxAge, a number 1e400 in the data": b'{"cookie":{"originalMaxAge":3600000},"n":1e400}',
    "the configured maxAge, nested 65 deep": b'{"cookie":{"originalMaxAge":3600000},"x":'
    + b"[" * 64
    + b"]" * 64
    + b"}",
    "not JSON": b"{",
    "a logged-in record": stored(HOUR_MS, _auth_user_id="7", passport={"user": "7"}),
    # Filed when it expired in 2000: the touch outlives its index sets, which the read
    # keeps for as long again.
    "a logged-in record filed long ago": record.dumps(
        {
            "cookie": {"originalMaxAge": HOUR_MS, "expires": "2000-01-01T00:00:00.000Z"},
            "_auth_user_id": "7",
        }
    ).encode(),
}


def read_outcome(read, client, key: str, value: bytes | None):
    """What ``read(key)`` gives for a stored ``value``, the session's TTL after it, and
    whether each index set it left lives longer than the session."""
    client.delete("sess:" + key, *client.keys("users:*"))
    if value is not None:
        client.set("sess:" + key, value, ex=5)
    try:
        known = read(key)
        result = None if known is None else (known.record, known.touched)
    except CorruptRecord:
        result = CorruptRecord
    ttl = client.ttl("sess:" + key)
    return result, ttl, sorted(client.ttl(index) >= ttl for index in client.keys("users:*"))


@pytest.fixture
def two_stores(store_redis):
    """The same store with the configured maxAge (reads by GETEX) and without (reads by
    READ_AND_TOUCH only)."""
    from django_express_session.core.lifetime import Lifetime
    from django_express_session.stores.redis import RedisStore

    options = {**store_redis["options"], "ttl": FALLBACK_TTL}
    fast = RedisStore.from_options(options, lifetime=Lifetime(max_age_ms=HOUR_MS))
    slow = RedisStore.from_options(options)
    yield fast, slow
    fast.close()
    slow.close()


@pytest.mark.parametrize("case", [*READS, "a missing key"])
def test_a_read_by_getex_leaves_what_the_script_leaves(case, two_stores, redis_client):
    """Three ways to one outcome: the sync read, which sends its GETEX without a plan;
    the read's plan, which the async read runs; the script alone."""
    fast, slow = two_stores
    value = READS.get(case)
    outcomes = [
        read_outcome(lambda key: fast.read(key, touch=True), redis_client, "direct", value),
        read_outcome(lambda key: fast._planned(fast._read(key, True)), redis_client, "plan", value),
        read_outcome(lambda key: slow.read(key, touch=True), redis_client, "script", value),
    ]
    (result, ttl, sets), *others = outcomes
    for other_result, other_ttl, other_sets in others:
        assert other_result == result and other_sets == sets
        assert abs(other_ttl - ttl) <= 1, (ttl, other_ttl)


def test_a_record_with_the_configured_max_age_costs_one_getex(two_stores, redis_client):
    from tests.servers.redis import commands_sent

    fast, _ = two_stores
    redis_client.set("sess:abc", READS["the configured maxAge"], ex=5)
    assert commands_sent(redis_client, lambda: fast.read("abc", touch=True)) == ["GETEX"]
    assert 3599 <= redis_client.ttl("sess:abc") <= 3600
    redis_client.set("sess:abc", READS["another maxAge (set_expiry, another app)"], ex=5)
    fast.read("abc", touch=True)  # the server learns the script
    redis_client.expire("sess:abc", 5)
    sent = commands_sent(redis_client, lambda: fast.read("abc", touch=True))
    assert sent == ["GETEX", "EVALSHA"]
    assert 90 <= redis_client.ttl("sess:abc") <= 91


def test_a_read_before_redis_6_2_falls_back_to_the_script(tmp_path, settings):
    """A server without GETEX (renamed away here, as on Redis 6.0): the first read finds
    out and reads by script, then every later read does."""
    import redis as redis_py

    from django_express_session.core.lifetime import Lifetime
    from django_express_session.stores.redis import RedisStore
    from tests.servers.redis import commands_sent, start_redis

    server = start_redis(tmp_path / "old", "--rename-command", "GETEX", "")
    client = redis_py.Redis(port=server.port)
    store = RedisStore.from_options(
        {"client": redis_py.Redis(port=server.port)}, lifetime=Lifetime(max_age_ms=HOUR_MS)
    )
    try:
        client.set("sess:abc", READS["the configured maxAge"], ex=5)
        assert store.read("abc", touch=True).record["n"] == 1
        assert 3599 <= client.ttl("sess:abc") <= 3600
        client.expire("sess:abc", 5)
        assert commands_sent(client, lambda: store.read("abc", touch=True)) == ["EVALSHA"]
        assert 3599 <= client.ttl("sess:abc") <= 3600
    finally:
        store.close()
        client.close()
        server.stop()


# -- the passport user's index term -------------------------------------------------------

PASSPORT_USERS = ["alice", "é\u2028\"x\"", "", 1, -5, 10**30, 0, 1.5, True, None,
                  {"b": 1, "a": [2, "é"]}, [1, "x"]]  # fmt: skip


@pytest.mark.parametrize("user", PASSPORT_USERS, ids=repr)
def test_a_passport_users_term_is_its_sorted_compact_json(user):
    from django_express_session.owner import _passport_term

    spelled = json.dumps(user, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert _passport_term(user) == "p:" + spelled


# -- the decision's fingerprint of a session whose data is unchanged ------------------------

# What a view (or code before it) may do to a loaded session; each leaves the session's
# data as it is, or changes it, with or without marking it accessed.
SESSION_ACTIONS = {
    "nothing": lambda session: None,
    "reads a number": lambda session: session.get("n"),
    "reads a number by key": lambda session: session["n"],
    "asks for a key": lambda session: "n" in session,
    "reads a list": lambda session: session.get("cart"),
    "changes a list in place": lambda session: session.get("cart").append(3),
    "changes a nested value": lambda session: session["cart"][1].update(a=3),
    "changes a value it got from items()": lambda session: dict(session.items())["cart"].pop(),
    "changes a default it was given": lambda session: session.get("none", []).append(1),
    "sets a key to its value": lambda session: session.__setitem__("n", 1),
    "sets a new key": lambda session: session.__setitem__("m", [1]),
    "sets two new keys": lambda session: set_each(session, m=1, a=2),
    "sets a key twice": lambda session: set_each(session, n=2, m=1) or set_each(session, n=3),
    "sets a list, then changes it": lambda session: set_then_change(session),
    "sets a key, then changes a list": lambda session: (
        session.__setitem__("n", 2),
        session.get("cart").append(3),
    ),
    "sets a key, then reads a number": lambda session: (session.__setitem__("n", 2), session["n"]),
    "sets a key back": lambda session: set_each(session, n=2) or set_each(session, n=1),
    "clears, then sets a key": lambda session: (session.clear(), session.__setitem__("n", 1)),
    "flushes, then sets a key": lambda session: (session.flush(), session.__setitem__("n", 1)),
    "sets a key, flushes, sets another": lambda session: (
        session.__setitem__("n", 2),
        session.flush(),
        session.__setitem__("m", 1),
    ),
    "sets a key asynchronously": lambda session: async_to_sync(session.aset)("n", 2),
    "sets a key": lambda session: session.__setitem__("n", 2),
    "deletes a key": lambda session: session.pop("n"),
    "looks without access": lambda session: session.data_without_access(),
    "reloads": lambda session: session.reload(),
    "reloads a changed record": lambda session: reload_changed(session),
    "cycles the key": lambda session: session.cycle_key(),
    "regenerates": lambda session: session.regenerate(),
    "regenerates keeping the data": lambda session: session.regenerate(keep_data=True),
    "flushes": lambda session: session.flush(),
    "sets the expiry": lambda session: session.set_expiry(60),
    "saves": lambda session: session.save(),
    "saves, then changes a list": lambda session: (session.save(), session["cart"].pop()),
    "modified by hand": lambda session: setattr(session, "modified", True),
}
STORED = {
    "cookie": {"originalMaxAge": HOUR_MS, "expires": "2099-01-01T00:00:00.000Z", "path": "/"},
    "n": 1,
    "cart": [1.5, {"a": 2}],
}


def set_each(session, **values) -> None:
    for key, value in values.items():
        session[key] = value


def set_then_change(session) -> None:
    items = [1]
    session["m"] = items
    items.append(2)


def reload_changed(session) -> None:
    from django_express_session import conf

    conf.get_store().set("known-session", {**STORED, "n": 5})
    session.reload()


@pytest.mark.parametrize("action", list(SESSION_ACTIONS))
def test_the_decision_is_the_same_with_the_fingerprint_taken_at_load_or_when_needed(
    action, settings, rf
):
    """A session's fingerprint is computed only when some code may change its data (or
    another fingerprint is compared with it); until then the decision gets the very
    object the state holds, which stands for unchanged data. Each action gives the
    verdicts the fingerprint taken at load gives (the slow path), and a fingerprint
    other than that object is the data's, or the part of it of the keys set since load
    when nothing else was handed out (compared with what those keys held then)."""
    from django_express_session import conf
    from django_express_session.session import SessionStore

    settings.EXPRESS_SESSION = {
        "secret": "fast paths",
        "resave": False,
        "saveUninitialized": False,
        "store": {"backend": "memory", "options": {}},
    }

    def verdicts(fingerprint_at_load: bool) -> tuple[bool, bool, bool]:
        conf.get_store().set("known-session", STORED)
        session = SessionStore.for_request(rf.get("/"), "known-session")
        if fingerprint_at_load:
            session._fill_bound()
        SESSION_ACTIONS[action](session)
        fingerprint = session.fingerprint_for_decision()
        state = session.state
        unchanged = fingerprint is state.original
        if not unchanged:  # the data's, or (only keys set) those keys' part of it
            whole = record.fingerprint(session.data_without_access() or {})
            assert list(fingerprint) == [key for key in whole if key in fingerprint]
            assert fingerprint == {key: whole[key] for key in fingerprint}
        return state.is_modified(fingerprint), state.is_saved(fingerprint), unchanged

    *when_needed, unchanged = verdicts(fingerprint_at_load=False)
    *at_load, _ = verdicts(fingerprint_at_load=True)
    assert when_needed == at_load
    if action in ("nothing", "reads a number", "reads a number by key", "asks for a key"):
        assert unchanged  # the fast path ran: nothing was encoded


# -- the memory store's touch: the cookie spliced into the text ------------------------------

NEW_COOKIE = {"originalMaxAge": 60_000, "expires": "2099-02-01T00:00:00.000Z", "path": "/"}
TOUCHED = {
    "tiny": {"cookie": {"originalMaxAge": 1, "path": "/"}, "n": 1},
    "no data": {"cookie": {"path": "/", "httpOnly": True}},
    "braces and quotes in the cookie": {"cookie": {"path": '/a}{"b",', "domain": "x"}, "n": 1},
    "floats JavaScript prints differently": {"cookie": {"originalMaxAge": 1e4}, "f": [1e-7, 2.0]},
    "a cookie the decoder refuses": {"cookie": {"originalMaxAge": 1e21}, "n": 1},
    "an expires the decoder refuses": {"cookie": {"expires": "next tuesday"}, "n": 1},
    "non-ASCII": {"cookie": {"path": "/é"}, "ключ": "значение", "e": "\u2028"},
    "cookie last": {"n": 1, "cookie": {"path": "/"}},
    "deep": {"cookie": {}, "x": json.loads("[" * 63 + "]" * 63)},
}


@pytest.mark.parametrize("case", list(TOUCHED))
def test_a_touch_by_splicing_writes_what_a_full_rewrite_does(case):
    text = record.dumps(TOUCHED[case])
    spliced = verdict(lambda text: record.with_cookie(text, NEW_COOKIE), text)
    rewritten = verdict(
        lambda text: record.dumps({**record.loads(text), "cookie": NEW_COOKIE}), text
    )
    assert spliced == rewritten


@pytest.mark.parametrize("text", ['{"cookie":{"n":NaN},"a":1}', '{"cookie":1e400}', '{"cookie":{'])
def test_a_spliced_touch_of_a_corrupt_text_is_refused(text):
    with pytest.raises(CorruptRecord):
        record.with_cookie(text, NEW_COOKIE)


# -- the remembered signatures ---------------------------------------------------------------


def test_a_remembered_verification_answers_as_a_fresh_one():
    """The memo is keyed by the value and the secrets: a value that verified under one
    list of secrets is judged afresh under another, and a forged one stays refused."""
    from django_express_session import signing

    signed = "s:" + signing.sign("abc", "old")
    forged = "s:abc." + "A" * 43
    for secrets in [("old",), ("new",), ("new", "old"), ("old",), ("new",)]:
        for value in (signed, forged, signed + "x"):
            assert signing.session_id(value, secrets) == signing.unsign(value[2:], secrets)
    assert signing.session_id(signed, ("new", "old")) == "abc"
    assert signing.session_id(signed, ("new",)) is None
    for secret in ("one", "two", "one"):
        expected = "s%3Aabc." + signing.sign("abc", secret).split(".", 1)[1]
        assert signing.cookie_value("abc", secret) == expected.replace("+", "%2B").replace(
            "/", "%2F"
        )


# -- the remembered Expires dates and Cookie headers -----------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=-62_135_596_800, max_value=253_402_300_799, allow_nan=False))
def test_a_remembered_expires_date_is_the_one_formatdate_gives(timestamp):
    from datetime import datetime, timezone
    from email.utils import formatdate

    from django_express_session.cookie import Cookie

    moment = datetime.fromtimestamp(timestamp, timezone.utc)
    cookie = Cookie()
    cookie.expires = moment
    line = cookie.serialize("a", "b")
    assert line.split("; ")[2] == "Expires=" + formatdate(moment.timestamp(), usegmt=True)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=' =;"%3AaBc.s+/\t', max_size=40))
def test_remembered_cookies_are_the_parsed_ones(header):
    from django_express_session import http

    assert dict(http.request_cookies(header)) == http.parse_cookie_header(header)
    assert dict(http.request_cookies(header)) == http.parse_cookie_header(header)  # remembered


# -- a stored cookie's attributes: remembered once accepted, or checked one by one ---------

STORED_COOKIES = {
    "express's default": {"originalMaxAge": 60_000, "expires": "2026-12-08T10:00:00.000Z",
                          "httpOnly": True, "path": "/"},
    "every attribute": {"originalMaxAge": None, "partitioned": True, "priority": "high",
                        "expires": False, "secure": True, "httpOnly": False,
                        "domain": "example.test", "path": "/app", "sameSite": "lax"},
    "secure 1, not a boolean": {"secure": 1, "path": "/"},
    "secure 1.0, not a boolean": {"secure": 1.0, "path": "/"},
    "secure 0, falsy": {"secure": 0, "path": "/"},
    "httpOnly a string": {"httpOnly": "yes", "path": "/"},
    "a path that adds a header": {"path": "/\r\nX-Injected: yes"},
    "a domain that adds an attribute": {"domain": "example.test; Secure"},
    "sameSite true": {"sameSite": True},
    "sameSite 1": {"sameSite": 1},
    "a list for partitioned": {"partitioned": ["Partitioned"]},
    "a dict for a path": {"path": {"p": "/"}},
    "keys of no attribute": {"user": "alice", "expires": 12},
}  # fmt: skip


def read_one_by_one(data: dict) -> Cookie:
    cookie = Cookie()
    cookie._read_attributes(data, None, {"path": "/configured", "secure": False})
    return cookie


@pytest.mark.parametrize("name", list(STORED_COOKIES))
def test_a_stored_cookie_reads_as_its_attributes_checked_one_by_one(name, caplog):
    data = STORED_COOKIES[name]
    for _ in range(2):  # the second read finds the first one's verdict remembered
        read = Cookie.from_json(data, defaults={"path": "/configured", "secure": False})
        expected = read_one_by_one(data)
        for attribute in ("secure", "http_only", "domain", "path", "same_site", "partitioned",
                          "priority"):  # fmt: skip
            assert repr(getattr(read, attribute)) == repr(getattr(expected, attribute)), attribute


def test_an_attribute_equal_to_an_accepted_one_but_of_another_type_is_checked(caplog):
    # (a path of its own: no other test's verdict is remembered for these attributes)
    Cookie.from_json({"secure": True, "path": "/typed"})
    with caplog.at_level(logging.WARNING, logger="django_express_session"):
        cookie = Cookie.from_json({"secure": 1, "path": "/typed"}, defaults={"secure": False})
    assert cookie.secure is False
    assert "stored cookie.secure 1 is not a boolean" in caplog.text
