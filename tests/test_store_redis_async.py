"""The redis store's native asyncio primitives (``redis.asyncio``) against a real
redis-server: the same layout and answers as the sync ones, one client per event loop,
no worker thread for an async request, and the same round trips."""

from __future__ import annotations

import asyncio
import threading

import pytest
import redis
import redis.asyncio
from asgiref.sync import async_to_sync
from django.test import AsyncClient

from django_express_session import conf
from django_express_session.exceptions import CorruptRecord, CreateError
from django_express_session.record import dumps
from django_express_session.stores.redis import RedisStore
from django_express_session.stores.redis.socket_client import SocketCommands
from tests.helpers import set_cookie, sid_of, stored_session
from tests.servers.redis import PROTOCOL, commands_sent

HOUR_MS = 3_600_000


@pytest.fixture
def store(store_redis):
    store = RedisStore.from_options(store_redis["options"])
    yield store
    store.close()


def run(coroutine):
    return asyncio.run(coroutine)


def test_the_asyncio_primitives_write_what_the_sync_ones_read(store, redis_client):
    session = stored_session({"views": 1, "name": "Zoë"}, max_age=HOUR_MS)

    async def use():
        await store.acreate("abc", session)
        with pytest.raises(CreateError):
            await store.acreate("abc", session)
        redis_client.expire("sess:abc", 5)
        known = await store.aread("abc", touch=True)
        assert known.touched and known.record == session
        assert 3599 <= redis_client.ttl("sess:abc") <= 3600
        assert await store.areplace("abc", {**session, "views": 2}, known.version)
        assert not await store.areplace("abc", {**session, "views": 3}, known.version)
        redis_client.expire("sess:abc", 5)
        await store.atouch("abc", session)
        assert redis_client.ttl("sess:abc") > 5
        await store.adestroy("abc")
        await store.atouch("abc", session)  # never recreates it
        assert await store.aread("abc", touch=True) is None

    run(use())
    assert not redis_client.exists("sess:abc")


def test_the_layout_is_the_sync_one(store, redis_client):
    session = stored_session({"views": 1}, max_age=HOUR_MS)
    run(store.acreate("abc", session))
    assert redis_client.get("sess:abc") == dumps(session).encode()
    assert store.read("abc").record == session


def test_an_asyncio_read_of_a_corrupt_record_is_an_error(store, redis_client):
    redis_client.set("sess:abc", b"\xff not json")
    with pytest.raises(CorruptRecord):
        run(store.aread("abc", touch=True))


def test_each_event_loop_gets_its_own_client(store, redis_client):
    async def client_of_this_loop():
        await store.aread("abc")
        return store._async_connection().client

    first = run(client_of_this_loop())
    second = run(client_of_this_loop())
    assert isinstance(first, redis.asyncio.Redis)
    assert first is not second
    assert len(store._by_loop) == 1  # the closed loop's client was let go


def test_a_client_object_gets_an_asyncio_twin(redis_server, redis_client):
    given = redis.Redis(port=redis_server.port, decode_responses=True, **PROTOCOL)
    store = RedisStore.from_options({"client": given, "prefix": "app:"})
    session = stored_session({"views": 1})

    async def use():
        await store.acreate("abc", session)
        known = await store.aread("abc", touch=True)
        assert await store.areplace("abc", {**session, "views": 2}, known.version)
        return type(store._async_connection().client)

    assert run(use()) is redis.asyncio.Redis
    assert redis_client.get("app:abc") == dumps({**session, "views": 2}).encode()
    store.close()
    assert given.ping()


class PoolOfItsOwn(redis.ConnectionPool):
    """A custom pool class, whose settings the store cannot copy (as Sentinel's)."""


def test_a_client_the_store_cannot_copy_is_used_as_it_is(redis_server, redis_client, caplog):
    given = redis.Redis(connection_pool=PoolOfItsOwn(port=redis_server.port, **PROTOCOL))
    store = RedisStore.from_options({"client": given})
    session = stored_session({"views": 1})

    async def use():
        await store.acreate("abc", session)  # in a worker thread, with the sync client
        return (await store.aread("abc", touch=True)).record

    assert run(use()) == session
    assert store.redis is given
    assert "uses the given client as it is" in caplog.text
    store.close()
    assert given.ping()


# -- an async request runs no store call in a thread ------------------------------------


@pytest.fixture
def async_redis(express, monkeypatch):
    """Sessions on the redis store; its sync primitives raise, and every command of an
    asyncio client records the thread it ran in."""
    express(cookie={"maxAge": HOUR_MS})
    store = conf.get_store()
    assert isinstance(store, RedisStore)
    for method in ("read", "create", "replace", "destroy", "touch", "_send"):
        monkeypatch.setattr(store, method, _forbidden(method))
    threads: list[int] = []
    # redis.asyncio's clients, and the store's own connection for a request's commands
    # (``socket_client``, whose client is a redis.asyncio.Redis too).
    for client_class in (redis.asyncio.Redis, SocketCommands):
        monkeypatch.setattr(
            client_class, "execute_command", _recording(client_class.execute_command, threads)
        )
    return threads


def _recording(original, threads):
    async def recording(self, *args, **options):
        threads.append(threading.get_ident())
        return await original(self, *args, **options)

    return recording


def _forbidden(method):
    def called(*args, **kwargs):
        raise AssertionError(f"an async request called the sync {method}()")

    return called


@pytest.mark.parametrize("store_settings", ["redis"], indirect=True)
def test_an_async_request_awaits_the_store_on_the_event_loop(async_redis, redis_client):
    @async_to_sync
    async def browse():
        loop_thread = threading.get_ident()
        browser = AsyncClient()
        created = await browser.get("/async-set", {"v": "x"})
        sid = sid_of(set_cookie(created))
        read = (await browser.get("/async-read")).json()
        await browser.get("/async-regenerate")
        return loop_thread, sid, read

    loop_thread, sid, read = browse()
    assert read == {"id": sid, "data": {"v": "x"}}
    assert async_redis, "the requests went to Redis through redis.asyncio"
    assert set(async_redis) == {loop_thread}, "every command ran on the event loop's thread"


# -- round trips ------------------------------------------------------------------------


@pytest.mark.parametrize("store_settings", ["redis"], indirect=True)
def test_async_requests_cost_the_round_trips_of_sync_ones(express, redis_client):
    express(cookie={"maxAge": HOUR_MS})
    browser = AsyncClient()
    get = async_to_sync(browser.get)

    assert commands_sent(redis_client, lambda: get("/async-read")) == []
    assert commands_sent(redis_client, lambda: get("/async-set", {"v": "1"})) == ["SET"]
    get("/async-read")  # (the server learnt the read-and-touch script, for other records)
    get("/async-set", {"v": "2"})  # and the compare-and-set one
    # A record with the configured maxAge is read and touched by one GETEX.
    assert commands_sent(redis_client, lambda: get("/async-read")) == ["GETEX"]
    assert commands_sent(redis_client, lambda: get("/async-set", {"v": "3"})) == [
        "GETEX",
        "EVALSHA",
    ]
