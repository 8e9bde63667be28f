"""Byte-level parity with the real connect-redis 9 (node-redis 5), run by
``interop/node/store-call.js`` against the same redis-server: the same session written
by either side gives the same key, the same bytes and the same TTL (within a second),
and each side reads what the other wrote."""

from __future__ import annotations

import json
import math
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from django_express_session.stores.redis import RedisStore
from tests.helpers import stored_session
from tests.servers.process import require
from tests.servers.redis import redis_url

pytestmark = pytest.mark.interop

NODE_DIR = Path(__file__).resolve().parents[1] / "interop" / "node"
HOUR_MS = 3_600_000


def run_store_call(options: dict[str, Any], calls: list[dict[str, Any]]) -> list[Any]:
    """Run ``calls`` on a real connect-redis store built with ``options`` (``url`` or
    ``cluster``, and connect-redis's own) and return their results."""
    node = require("node")
    if not (NODE_DIR / "node_modules" / "connect-redis").is_dir():
        pytest.fail("interop/node/node_modules is missing: scripts/test runs npm ci")
    request = {"store": "redis", "options": options, "calls": calls}
    done = subprocess.run(
        [node, "store-call.js", json.dumps(request)],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def connect_redis(server, calls: list[dict[str, Any]], **options: Any) -> list[Any]:
    """Run ``calls`` on connect-redis connected to the test ``server``."""
    return run_store_call({"url": redis_url(server), **options}, calls)


# Each store's options, on the Python side and as connect-redis takes them.
OPTIONS = {
    "defaults": ({}, {}),
    "prefix": ({"prefix": "myapp:"}, {"prefix": "myapp:"}),
    "empty prefix": ({"prefix": ""}, {"prefix": ""}),
    "ttl number": ({"ttl": 600}, {"ttl": 600}),
    "ttl function": ({"ttl": lambda session: 123}, {"ttlSeconds": 123}),
    "disableTTL": ({"disableTTL": True}, {"disableTTL": True}),
}


def sessions() -> dict[str, dict]:
    """Sessions as express stores them, made now so their cookies have not expired."""
    return {
        "browser-session cookie": stored_session({"views": 1}, max_age=None),
        "one hour": stored_session({"views": 1}, max_age=HOUR_MS),
        "odd milliseconds": stored_session({"n": 1}, max_age=90_500),
        "full cookie": {
            "cookie": {  # Cookie#toJSON's key order
                "originalMaxAge": HOUR_MS,
                "expires": stored_session({}, max_age=HOUR_MS)["cookie"]["expires"],
                "secure": False,
                "httpOnly": True,
                "domain": "example.test",
                "path": "/",
                "sameSite": "lax",
            },
            "passport": {"user": "zoë"},
        },
        "tricky values": stored_session(
            {
                "text": 'quote " backslash \\ tab \t nul \x00 line-sep \u2028 emoji 🍪 é',
                "numbers": [0, -1, 1.5, 0.1, 1e21, 1e-7, 2**53, -0.0, 123456789.125],
                "nested": {"a": [None, True, False, {}, []], "": "empty key"},
                "__lastAccess": 1763786731614,
            },
            max_age=HOUR_MS,
        ),
    }


def raw(client, key: str) -> tuple[bytes | None, int]:
    return client.get(key), client.ttl(key)


@pytest.mark.parametrize("options", list(OPTIONS))
def test_both_sides_write_the_same_key_bytes_and_ttl(
    redis_server, redis_client, store_redis, options
):
    python_options, node_options = OPTIONS[options]
    cases = sessions()
    prefix = python_options.get("prefix", "sess:")

    connect_redis(
        redis_server,
        [{"op": "set", "sid": case, "session": session} for case, session in cases.items()],
        **node_options,
    )
    by_node = {case: raw(redis_client, prefix + case) for case in cases}
    redis_client.flushdb()

    store = RedisStore.from_options({**store_redis["options"], **python_options})
    for case, session in cases.items():
        store.set(case, session)
    by_django = {case: raw(redis_client, prefix + case) for case in cases}

    for case in cases:
        (node_value, node_ttl), (python_value, python_ttl) = by_node[case], by_django[case]
        assert python_value is not None, case
        assert python_value == node_value, case
        assert abs(python_ttl - node_ttl) <= 1, case
    # Besides the sessions, only the per-user index Django keeps: the one logged-in case.
    index_sets = [store.index_key('p:"zoë"').encode()]
    expected = [(prefix + case).encode() for case in cases] + index_sets
    assert sorted(redis_client.keys("*")) == sorted(expected)


@pytest.mark.parametrize("case", list(sessions()))
def test_each_side_reads_what_the_other_wrote(redis_server, redis_client, store_redis, case):
    session = sessions()[case]
    store = RedisStore.from_options(store_redis["options"])
    store.create("from-django", session)
    results = connect_redis(
        redis_server,
        [
            {"op": "set", "sid": "from-node", "session": session},
            {"op": "get", "sid": "from-django"},
            {"op": "length"},
        ],
    )
    assert results[1] == json.loads(json.dumps(session))
    assert results[2] == 2
    assert store.get("from-node") == session
    assert store.read("from-node", touch=True).record == session
    assert set(store.all()) == {"from-node", "from-django"}


@pytest.mark.parametrize("max_age", [None, HOUR_MS, 90_500])
def test_a_touch_gives_the_ttl_connect_redis_gives(
    redis_server, redis_client, store_redis, max_age
):
    store = RedisStore.from_options(store_redis["options"])
    for sid in ("node", "django", "django-read"):
        store.set(sid, stored_session({}, max_age=max_age))
        redis_client.expire(f"sess:{sid}", 30)
    before = redis_client.get("sess:node")

    # express resets cookie.expires to now + originalMaxAge, then calls store.touch.
    started = time.monotonic()
    touched = stored_session({}, max_age=max_age)
    connect_redis(redis_server, [{"op": "touch", "sid": "node", "session": touched}])
    store.touch("django", touched)
    node_took = time.monotonic() - started
    # The read-time touch does it all at the start of the request, from originalMaxAge.
    assert store.read("django-read", touch=True).touched

    node_ttl = redis_client.ttl("sess:node")
    assert node_ttl > 30
    assert abs(redis_client.ttl("sess:django") - node_ttl) <= 1
    # Node's touch came up to node_took seconds after ``touched`` was made.
    assert node_ttl <= redis_client.ttl("sess:django-read") <= node_ttl + math.ceil(node_took) + 1
    assert redis_client.get("sess:node") == before  # the value is left as it was


def test_destroy_and_clear_on_either_side(redis_server, redis_client, store_redis):
    store = RedisStore.from_options(store_redis["options"])
    for sid in ("a", "b", "c"):
        store.set(sid, stored_session({}))
    connect_redis(redis_server, [{"op": "destroy", "sid": "a"}])
    assert store.length() == 2
    connect_redis(redis_server, [{"op": "clear"}])
    assert store.length() == 0
