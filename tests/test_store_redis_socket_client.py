"""The redis store's own asyncio connection for a request's commands
(``stores/redis/socket_client``) against a real redis-server: every command it sends
gives what redis-py's asyncio client gives for the same command (values and
exceptions), run side by side over the same cases; replies stay in order when a caller
gives up; a broken connection is made again; and only the clients whose connection it
can make alike get it."""

from __future__ import annotations

import asyncio

import pytest
import redis
import redis.asyncio

from django_express_session.stores.redis import RedisStore
from django_express_session.stores.redis.libraries import redis_py
from django_express_session.stores.redis.socket_client import (
    SOCKET_COMMANDS,
    SocketCommands,
    socket_client_for,
)
from tests.helpers import stored_session

SCRIPT = b"return {KEYS[1], ARGV[1]}"
FAILING_SCRIPT = b"return redis.error_reply('BROKEN on purpose')"


def _clients(port: int, **settings):
    plain = redis.asyncio.Redis(port=port, protocol=2, **settings)
    owner = redis.asyncio.Redis(port=port, protocol=2, **settings)
    fast = socket_client_for(owner, redis_py())
    assert isinstance(fast, SocketCommands) and isinstance(fast, redis.asyncio.Redis)
    return plain, fast


async def _outcome(call):
    try:
        return ("value", await call)
    except redis.RedisError as error:
        return (type(error), str(error))


#: (name, what to do with a client): each runs on a fresh database state, first with
#: redis-py's client, then with the socket client, and must give the same.
CASES = [
    ("set new", lambda c: c.set("k", b"v", nx=True)),
    ("set taken", lambda c: _after(c.set("k", b"v"), c.set("k", b"w", nx=True))),
    ("set with expiry", lambda c: c.set("k", b"v", ex=100, nx=True)),
    ("set over", lambda c: _after(c.set("k", b"v"), c.set("k", b"w"))),
    ("get", lambda c: _after(c.set("k", "Zoë"), c.get("k"))),
    ("get missing", lambda c: c.get("missing")),
    ("get of a set", lambda c: _after(c.sadd("s", "a"), c.get("s"))),
    ("getex", lambda c: _after(c.set("k", b"v"), c.getex("k", ex=100))),
    ("getex missing", lambda c: c.getex("missing", ex=100)),
    ("exists", lambda c: _after(c.set("k", b"v"), c.exists("k", "missing", "k"))),
    ("expire", lambda c: _after(c.set("k", b"v"), c.expire("k", 100))),
    ("expire missing", lambda c: c.expire("missing", 100)),
    # (PTTL of a key with an expiry counts down between the two clients' runs.)
    ("pttl without expiry", lambda c: _after(c.set("k", b"v"), c.pttl("k"))),
    ("pttl missing", lambda c: c.pttl("missing")),
    ("delete", lambda c: _after(c.set("k", b"v"), c.delete("k", "missing"))),
    ("mget", lambda c: _after(c.set("k", b"v"), c.mget(["k", "missing"]))),
    ("script load", lambda c: c.script_load(SCRIPT)),
    ("evalsha", lambda c: _after(c.script_load(SCRIPT), c.evalsha(_sha(SCRIPT), 1, "k", 7))),
    ("evalsha unknown", lambda c: c.evalsha("0" * 40, 0)),
    ("eval", lambda c: c.eval(SCRIPT, 1, "k", "x")),
    ("eval failing", lambda c: c.eval(FAILING_SCRIPT, 0)),
    ("a script object", lambda c: c.register_script(SCRIPT)(keys=["k"], args=[1], client=c)),
    ("not a socket command", lambda c: _after(c.sadd("s", "a", "b"), c.smembers("s"))),
    ("unknown command", lambda c: c.execute_command("NOSUCHCOMMAND", "x")),
    ("wrong arguments", lambda c: c.execute_command("GET")),
]


async def _after(first, then):
    await first
    return await then


def _sha(script: bytes) -> str:
    import hashlib

    return hashlib.sha1(script).hexdigest()


@pytest.mark.parametrize(("name", "case"), CASES, ids=[name for name, _ in CASES])
def test_each_command_answers_as_redis_py_does(redis_server, redis_client, name, case):
    async def both():
        plain, fast = _clients(redis_server.port)
        outcomes = []
        for client in (plain, fast):
            redis_client.flushdb()
            redis_client.script_flush()
            outcomes.append(await _outcome(case(client)))
        await plain.aclose()
        await fast.aclose()
        return outcomes

    by_redis_py, by_socket = asyncio.run(both())
    assert by_socket == by_redis_py


def test_the_cases_cover_every_socket_command():
    covered = {"GET", "GETEX", "SET", "EXISTS", "EXPIRE", "PTTL", "DEL", "MGET", "EVAL",
               "EVALSHA", "SCRIPT LOAD"}  # fmt: skip
    assert covered == SOCKET_COMMANDS


def test_a_request_of_a_store_uses_the_socket_and_writes_what_the_sync_side_reads(
    store_redis, redis_client
):
    store = RedisStore.from_options(store_redis["options"])
    session = stored_session({"views": 1}, max_age=3_600_000)

    async def use():
        await store.acreate("abc", session)
        known = await store.aread("abc", touch=True)
        assert await store.areplace("abc", {**session, "views": 2}, known.version)
        return store._async_connection().client

    client = asyncio.run(use())
    store.close()
    assert isinstance(client, SocketCommands)
    assert store.read("abc").record == {**session, "views": 2}


def test_a_reply_its_caller_gave_up_on_is_dropped_in_order(redis_server, redis_client):
    redis_client.set("a", b"A")
    redis_client.set("b", b"B")

    async def use():
        _, fast = _clients(redis_server.port)
        await fast.get("a")  # connected
        given_up = asyncio.ensure_future(fast.get("a"))
        behind = asyncio.ensure_future(fast.get("b"))  # on the same connection, after it
        await asyncio.sleep(0)  # both sent
        given_up.cancel()
        answers = [await behind, await fast.get("b"), await fast.get("a")]
        await fast.aclose()
        return answers

    assert asyncio.run(use()) == [b"B", b"B", b"A"]


def test_a_broken_connection_is_made_again(redis_server, redis_client):
    redis_client.set("a", b"A")

    async def use():
        _, fast = _clients(redis_server.port, client_name="socket-client-test")
        first = await fast.get("a")
        redis_client.client_kill_filter(_type="normal", skipme=True)
        await asyncio.sleep(0.05)
        again = await fast.get("a")
        await fast.aclose()
        return first, again

    assert asyncio.run(use()) == (b"A", b"A")


def test_the_handshake_selects_the_database_and_names_the_client(redis_server, redis_client):
    other = redis.Redis(port=redis_server.port, db=3, protocol=2)
    other.set("k", b"in db 3")

    async def use():
        _, fast = _clients(redis_server.port, db=3, client_name="socket-client-test")
        value = await fast.get("k")
        names = [client["name"] for client in redis_client.client_list()]
        await fast.aclose()
        return value, names

    value, names = asyncio.run(use())
    other.flushdb()
    assert value == b"in db 3"
    assert "socket-client-test" in names


def test_a_refused_connection_is_a_connection_error():
    async def use():
        from tests.servers.process import free_port

        _, fast = _clients(free_port(), socket_connect_timeout=0.5)
        try:
            await fast.get("k")
        finally:
            await fast.aclose()

    with pytest.raises(redis.ConnectionError):
        asyncio.run(use())


@pytest.mark.parametrize(
    "settings",
    [{"protocol": 3}, {"decode_responses": True}, {"unix_socket_path": "/tmp/none.sock"},
     {"ssl": True}],
    ids=["RESP3", "decoded replies", "Unix socket", "TLS"],
)  # fmt: skip
def test_a_connection_it_cannot_make_alike_stays_redis_py_s(settings):
    client = redis.asyncio.Redis(**{"protocol": 2, **settings})
    assert socket_client_for(client, redis_py()) is None
