"""Redis goes down and comes back: the store says "unreachable" (one of its
``connection_errors``, never "no session"), and the same store object works again once
the server is back, without being rebuilt. A frozen Redis (SIGSTOP: connections open,
no answers) costs a request about the store's ``timeout``, not redis-py's retries.
(The 503 and the kept cookie are checked under gunicorn and uvicorn in
``test_outages.py``.)"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator

import pytest
import redis
from asgiref.sync import async_to_sync
from django.core.cache import caches
from django.test import AsyncClient, Client

from django_express_session.exceptions import StoreUnavailable
from django_express_session.stores.redis import RedisStore
from tests.helpers import stored_session, use_express_session
from tests.servers.process import Server
from tests.servers.redis import PROTOCOL, redis_url

pytestmark = pytest.mark.slow


@pytest.fixture
def outage_alias(redis_outage_server, settings) -> str:
    """A django-redis alias of the outage server, with django-redis's defaults."""
    settings.CACHES = {
        **settings.CACHES,
        "outage": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": redis_url(redis_outage_server),
            "OPTIONS": {"CONNECTION_POOL_KWARGS": PROTOCOL},
        },
    }
    return "outage"


@pytest.fixture(params=["alias", "client"])
def store(request, redis_outage_server) -> Iterator[RedisStore]:
    if request.param == "alias":
        store = RedisStore.from_options({"alias": request.getfixturevalue("outage_alias")})
    else:
        # A client with redis-py's defaults: 5 s socket timeouts, 10 retries.
        store = RedisStore.from_options(
            {"client": redis.Redis(port=redis_outage_server.port, **PROTOCOL)}
        )
    yield store
    store.close()


class Frozen:
    """SIGSTOP on redis-server: it keeps its connections and its port but answers
    nothing, as a Redis stuck on a slow disk or a paused VM."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.frozen = False

    def __enter__(self) -> Frozen:
        os.kill(self.server.process.pid, signal.SIGSTOP)
        self.frozen = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.thaw()

    def thaw(self) -> None:
        if self.frozen:
            os.kill(self.server.process.pid, signal.SIGCONT)
            self.frozen = False


def failing_time(action) -> float:
    """How long ``action`` took to fail with one of the store's connection errors."""
    started = time.monotonic()
    with pytest.raises(RedisStore.connection_errors):
        action()
    return time.monotonic() - started


# Each primitive as (method, arguments, keyword arguments); its twin is "a" + method.
PRIMITIVES = {
    "read": ("read", ("abc",), {}),
    "read and touch": ("read", ("abc",), {"touch": True}),
    "create": ("create", ("new", stored_session({})), {}),
    "replace": ("replace", ("abc", stored_session({}), b"{}"), {}),
    "touch": ("touch", ("abc", stored_session({})), {}),
    "destroy": ("destroy", ("abc",), {}),
}


def call(store: RedisStore, name: str, twin: str = "") -> object:
    """Call the primitive ``name``, or with ``twin="a"`` its asyncio twin."""
    method, args, kwargs = PRIMITIVES[name]
    return getattr(store, twin + method)(*args, **kwargs)


# express's get and set run through the session core, which names the outage.
CONVENIENCES = {
    "get": lambda store: store.get("abc"),
    "set": lambda store: store.set("abc", stored_session({})),
}


def test_every_operation_reports_the_outage_as_a_connection_error(store, redis_outage_server):
    store.set("abc", stored_session({"views": 1}))
    redis_outage_server.stop()
    for name in [*PRIMITIVES, "length"]:
        with pytest.raises(RedisStore.connection_errors):
            store.length() if name == "length" else call(store, name)
            pytest.fail(f"{name} did not fail")
    for name, operation in CONVENIENCES.items():
        with pytest.raises(StoreUnavailable):
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


def test_a_frozen_redis_fails_each_call_within_the_timeout(store, redis_outage_server):
    store.set("abc", stored_session({"views": 1}))
    asyncio.run(store.aread("abc"))  # pooled connections, as in a running site
    with Frozen(redis_outage_server):
        for name in PRIMITIVES:
            waited = failing_time(lambda: call(store, name))  # noqa: B023
            assert waited < 1, f"{name} took {waited:.2f}s"
            waited = failing_time(lambda: asyncio.run(call(store, name, twin="a")))  # noqa: B023
            assert waited < 1, f"async {name} took {waited:.2f}s"
    assert store.read("abc").record["views"] == 1
    assert asyncio.run(store.aread("abc")).record["views"] == 1


def test_the_timeout_option_sets_the_wait(redis_outage_server, outage_alias):
    store = RedisStore.from_options({"alias": outage_alias, "timeout": 0.2})
    store.set("abc", stored_session({}))
    with Frozen(redis_outage_server):
        started = time.monotonic()
        with pytest.raises(RedisStore.connection_errors):
            store.read("abc")
        with pytest.raises(RedisStore.connection_errors):
            asyncio.run(store.aread("abc"))
        assert 0.4 <= time.monotonic() - started < 0.9
    store.close()


def test_the_cache_alias_keeps_its_own_settings(redis_outage_server, outage_alias):
    store = RedisStore.from_options({"alias": outage_alias})
    store.set("abc", stored_session({}))
    cache_pool = caches[outage_alias].client.get_client(write=True).connection_pool
    assert store.redis.connection_pool is not cache_pool
    assert store.redis.connection_pool.connection_kwargs["socket_timeout"] == 0.5
    assert cache_pool.connection_kwargs.get("socket_timeout") != 0.5
    store.close()


@pytest.fixture
def site(outage_alias, settings) -> None:
    use_express_session(settings, store={"backend": "redis", "options": {"alias": outage_alias}})


def test_a_request_on_a_frozen_redis_gets_its_503_fast_and_recovers(site, redis_outage_server):
    browser = Client()
    assert browser.get("/set", {"v": "before"}).status_code == 200
    with Frozen(redis_outage_server) as frozen:
        started = time.monotonic()
        response = browser.get("/read")
        waited = time.monotonic() - started
        assert response.status_code == 503
        assert waited < 1, f"the 503 took {waited:.2f}s"
        frozen.thaw()
        assert browser.get("/read").json()["data"] == {"v": "before"}


def test_an_async_request_on_a_frozen_redis_gets_its_503_fast_and_recovers(
    site, redis_outage_server
):
    browser = AsyncClient()
    get = async_to_sync(browser.get)
    assert get("/async-set", {"v": "before"}).status_code == 200
    with Frozen(redis_outage_server) as frozen:
        started = time.monotonic()
        response = get("/async-read")
        waited = time.monotonic() - started
        assert response.status_code == 503
        assert waited < 1, f"the 503 took {waited:.2f}s"
        frozen.thaw()
        assert get("/async-read").json()["data"] == {"v": "before"}
