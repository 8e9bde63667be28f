"""Fuzz what reads untrusted input, at scale (not run in CI).

    python benchmarks/fuzz.py [--examples 100000] [--seed 0]

Five targets, each fed ``--examples`` inputs by hypothesis (generation only; a failure
is then shrunk and printed):

* the Cookie header parser and the signature check: never an exception, and nothing
  verifies unless it was signed with the secret;
* the record decoder: a record or ``CorruptRecord``, never another exception; and every
  record it accepts rebuilds into a ``Cookie`` whose ``Set-Cookie`` line serialises
  without an exception, with no CR, LF or attribute the options did not give;
* ``Cookie.from_json`` + ``serialize`` on stored cookies whose attributes are hostile
  text (``;``, CR, LF, ``=``, attribute names): the same checks;
* a user's sessions as the pages and commands show them (``users.describe``, the
  ``device_name`` and ``seen_ago`` filters, the command's line) and the lifetime clock
  (the absolute cap, the expiry) on records whose ``djangoExpressSession`` dict and
  cookie hold hostile values: never an exception, no control character printed;
* the identity bridge's value rule against the listings: for any ``passport.user`` a
  record holds and any user value, when ``Owner.owns`` says the record is the user's
  (what the bridge logs in), the Redis index and the scans' prefilters find it too.

It prints, per target, how many inputs were tried, how long it took and what was found.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from urllib.parse import unquote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")

import django

django.setup()

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from django_express_session import record, signing, users  # noqa: E402
from django_express_session.cookie import Cookie  # noqa: E402
from django_express_session.core.decide import cap_at, capped, ends_at, seconds_until  # noqa: E402
from django_express_session.core.state import OWN_KEY, started_at  # noqa: E402
from django_express_session.exceptions import CorruptRecord  # noqa: E402
from django_express_session.http import parse_cookie_header  # noqa: E402
from django_express_session.management.commands.logout_everywhere import describe  # noqa: E402
from django_express_session.management.printable import printable  # noqa: E402
from django_express_session.owner import Owner, index_terms  # noqa: E402
from django_express_session.templatetags.express_sessions import device_name, seen_ago  # noqa: E402

SECRET = "keyboard cat"
NAME = "connect.sid"
# The attributes serialize may write, given the options (none here: express's defaults).
ALLOWED = {"Domain", "Path", "Expires", "HttpOnly", "Secure", "Partitioned", "Priority", "SameSite"}

text = st.text(st.characters(exclude_categories=("Cs",)))
header_text = st.binary(max_size=300).map(lambda raw: raw.decode("latin-1"))
hostile = st.one_of(
    text,
    st.lists(
        st.sampled_from(
            [";", "\r", "\n", "=", " ", "/", ".", "a", "Domain", "Secure", "SameSite=None",
             "example.com", "\t", "\x00", "\x7f", "é", ",", '"', "<", "-", "0"]
        ),
        max_size=12,
    ).map("".join),
)  # fmt: skip
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), hostile,
    st.sampled_from(["lax", "Strict", "none", "high", "LOW", "/", "example.com", ".a.b"]),
)  # fmt: skip
json_values = st.recursive(
    scalars, lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
    max_leaves=10,
)  # fmt: skip
cookie_keys = st.sampled_from(
    ["originalMaxAge", "expires", "secure", "httpOnly", "domain", "path", "sameSite",
     "partitioned", "priority"]
)  # fmt: skip
dates = st.one_of(
    hostile,
    st.sampled_from(["2030-01-01T00:00:00.000Z", "+275760-09-13T00:00:00.000Z",
                     "+275760-09-13T00:00:00.001Z", "-271821-04-20T00:00:00.000Z",
                     "9999-12-31T23:59:59.999-23:59", "0001-01-01T00:00:00+23:59",
                     "+033658-09-27T01:46:40.000Z", "2030-01-01T00:00:00"]),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
)  # fmt: skip
cookies = st.dictionaries(cookie_keys, st.one_of(scalars, dates), max_size=9)
records = st.builds(
    lambda cookie, data: {"cookie": cookie, **data},
    cookies,
    st.dictionaries(text.filter(lambda key: key != "cookie"), json_values, max_size=4),
)
raw_records = st.one_of(
    st.binary(max_size=300),
    text,
    records.map(lambda r: json.dumps(r, allow_nan=True)),
    st.integers(1, 3000).map(lambda d: '{"cookie":{},"x":' + "[" * d + "]" * d + "}"),
    st.sampled_from(["1e400", "-1e400", "1e300", "1e17", "8.64e15", "8640000000000001"]).map(
        lambda n: '{"cookie":{"originalMaxAge":' + n + '},"__lastAccess":' + n + "}"
    ),
)

moments = st.one_of(
    scalars,
    st.sampled_from([1e15, -1e15, 8.64e15, 1e308, -1e308, 2**63, 253402300800000]),
    st.integers(-(10**20), 10**20),
)
own_dicts = st.fixed_dictionaries(
    {},
    optional={
        "startedAt": moments, "createdAt": moments, "lastSeenAt": moments,
        "ip": hostile, "userAgent": st.one_of(hostile, text.map(lambda t: t * 50)),
        "writtenBy": scalars, "digest": scalars,
    },
)  # fmt: skip
owned_records = st.builds(
    lambda cookie, own, passport: {
        "cookie": cookie, OWN_KEY: own, "_auth_user_id": "1", "passport": {"user": passport}
    },
    cookies,
    st.one_of(own_dicts, scalars),
    json_values,
)  # fmt: skip
user_values = st.one_of(
    st.integers(-(2**70), 2**70), st.text(max_size=8), st.sampled_from(["1", " 1", "01", "josé"])
)

found: list[str] = []


def check_set_cookie(cookie_json: dict) -> None:
    cookie = Cookie.from_json(cookie_json, sid="fuzzed-session")
    line = cookie.serialize(NAME, signing.cookie_value("sid", SECRET))
    if "\r" in line or "\n" in line:
        raise AssertionError(f"CR/LF in {line!r}")
    for part in line.split("; ")[1:]:
        if part.split("=", 1)[0] not in ALLOWED:  # a path may hold "=": "Path==" is fine
            raise AssertionError(f"injected attribute {part!r} in {line!r}")
    attributes = [part.split("=", 1)[0] for part in line.split("; ")[1:]]
    if len(attributes) != len(set(attributes)):
        raise AssertionError(f"repeated attribute in {line!r}")


def cookie_header_target(header: str) -> None:
    cookies = parse_cookie_header(header)
    raw = cookies.get(NAME)
    sid = signing.session_id(raw, [SECRET])
    if sid is not None and unquote(signing.cookie_value(sid, SECRET)) != raw:
        raise AssertionError(f"{raw!r} verified without being signed")


def decoder_target(raw: str | bytes) -> None:
    try:
        decoded = record.loads(raw)
    except CorruptRecord:
        return
    check_set_cookie(decoded["cookie"])
    record.dumps(decoded)


def describe_target(raw: dict) -> None:
    try:
        decoded = record.loads(json.dumps(raw))
    except CorruptRecord:
        return
    shown = users.describe("fuzzed-session", decoded, None)
    device_name(shown.user_agent)
    seen_ago(shown.last_seen_at)
    line = printable(describe(shown))
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in line):
        raise AssertionError(f"control character printed: {line!r}")
    for max_age in (None, 0, 1, 86_400_000, 8_640_000_000_000_000):
        cap = cap_at(started_at(decoded), max_age)
        capped(record.expires_ms(decoded), cap)
        seconds_until(ends_at(record.expires_ms(decoded), cap), record.now_ms())


def listing_target(case: tuple) -> None:
    own_value, stored_value = case
    stored = {"cookie": {}, "passport": {"user": stored_value}}
    owner = Owner(None, own_value)
    if not owner.owns(stored):
        return
    if not owner.index_terms() & index_terms(stored):
        raise AssertionError(f"{stored_value!r} is {own_value!r}'s but no index term finds it")
    text_forms = (record.dumps(stored), json.dumps(stored), json.dumps(stored, indent=1))
    for written in text_forms:
        if not any(re.search(pattern, written) for pattern in owner.json_patterns()):
            raise AssertionError(f"{written!r} is {own_value!r}'s but no prefilter finds it")


def run(name: str, strategy, target, examples: int, seed: int) -> None:
    count = 0

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
        derandomize=False,
    )
    @given(strategy)
    def test(value):
        nonlocal count
        count += 1
        target(value)

    test._hypothesis_internal_use_seed = seed
    start = time.perf_counter()
    try:
        test()
        outcome = "nothing found"
    except Exception as error:  # a finding: hypothesis shrank it
        errors = getattr(error, "exceptions", [error])
        outcome = "FOUND " + " | ".join(f"{type(e).__name__}: {str(e)[:300]}" for e in errors)
        found.append(f"{name}: {outcome}")
    elapsed = time.perf_counter() - start
    print(f"{name:<34} {count:>8} inputs  {elapsed:7.1f} s  {outcome}", flush=True)


def main() -> int:
    import logging

    logging.getLogger("django_express_session").setLevel(logging.ERROR)  # repairs are expected
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--only", choices=["header", "decoder", "cookie", "describe", "listing"], default=None
    )
    args = parser.parse_args()
    if args.only in (None, "header"):
        signed = header_text.map(lambda h: h + f"; {NAME}=" + signing.cookie_value("sid", SECRET))
        headers = st.one_of(text, header_text, signed)
        run("cookie header + signature", headers, cookie_header_target, args.examples, args.seed)
    if args.only in (None, "decoder"):
        run("record decoder + Set-Cookie", raw_records, decoder_target, args.examples, args.seed)
    if args.only in (None, "cookie"):
        run("Cookie.from_json + serialize", cookies, check_set_cookie, args.examples, args.seed)
    if args.only in (None, "describe"):
        run(
            "describe + filters + lifetime",
            owned_records,
            describe_target,
            args.examples,
            args.seed,
        )
    if args.only in (None, "listing"):
        cases = user_values.flatmap(
            lambda own: st.tuples(
                st.just(own),
                st.one_of(st.sampled_from([own, str(own), f" {own}"]), user_values, json_values),
            )
        )
        run("bridge rule vs listings", cases, listing_target, args.examples, args.seed)
    print("findings:", found or "none")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
