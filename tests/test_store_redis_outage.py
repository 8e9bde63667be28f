"""Redis goes down and comes back: the store says "unreachable" (one of its
``connection_errors``, never "no session"), and the same store object works again once
the server is back, without being rebuilt. (The 503 and the kept cookie are checked
over HTTP in ``test_outages.py``.)"""

from __future__ import annotations

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from django_express_session.stores.redis import RedisStore
from tests.helpers import stored_session
from tests.servers.redis import redis_url

pytestmark = pytest.mark.slow

# What docs/redis.md recommends: retry once at once (a pooled connection that a restart
# broke), then fail fast. redis-py's default retries for seconds before giving up.
FAIL_FAST = Retry(NoBackoff(), 1)


@pytest.fixture(params=["alias", "client"])
def store(request, redis_outage_server, settings) -> RedisStore:
    if request.param == "alias":
        settings.CACHES = {
            **settings.CACHES,
            "outage": {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": redis_url(redis_outage_server),
                "OPTIONS": {"CONNECTION_POOL_KWARGS": {"retry": FAIL_FAST}},
            },
        }
        return RedisStore.from_options({"alias": "outage"})
    client = redis.Redis(port=redis_outage_server.port, retry=FAIL_FAST)
    return RedisStore.from_options({"client": client})


OPERATIONS = {
    "get": lambda store: store.get("abc"),
    "read and touch": lambda store: store.read("abc", touch=True),
    "create": lambda store: store.create("new", stored_session({})),
    "replace": lambda store: store.replace("abc", stored_session({}), b"{}"),
    "set": lambda store: store.set("abc", stored_session({})),
    "touch": lambda store: store.touch("abc", stored_session({})),
    "destroy": lambda store: store.destroy("abc"),
    "length": lambda store: store.length(),
}


def test_every_operation_reports_the_outage_as_a_connection_error(store, redis_outage_server):
    store.set("abc", stored_session({"views": 1}))
    redis_outage_server.stop()
    for name, operation in OPERATIONS.items():
        with pytest.raises(RedisStore.connection_errors):
            operation(store)
            pytest.fail(f"{name} did not fail")


def test_the_same_store_recovers_when_redis_is_back(store, redis_outage_server):
    session = stored_session({"views": 1})
    store.create("abc", session)
    assert store.read("abc", touch=True).touched  # the server has learnt the script

    redis_outage_server.stop()
    with pytest.raises(RedisStore.connection_errors):
        store.read("abc", touch=True)
    redis_outage_server.start()  # same port, empty: no persistence, no scripts

    assert store.read("abc", touch=True) is None
    store.create("abc", session)
    known = store.read("abc", touch=True)
    assert known.record == session
    assert store.replace("abc", {**session, "views": 2}, known.version)
    assert store.get("abc")["views"] == 2
