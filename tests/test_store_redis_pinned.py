"""The Redis store's sync client sends each command over its thread's own pooled
connection (``stores.redis.pinned``): it must answer as redis-py's own command path
does, give each thread its own connection and give it back when the thread ends, and
never share a connection across a fork."""

from __future__ import annotations

import contextlib
import multiprocessing
import subprocess
import sys
import threading
from collections.abc import Callable

import pytest
import redis

from django_express_session.stores.redis.libraries import redis_py
from django_express_session.stores.redis.pinned import ROOMY_POOL, packed, pinned
from tests.servers.redis import PROTOCOL

SCRIPT = "return {KEYS[1], ARGV[1], redis.call('GET', KEYS[1])}"


@pytest.fixture
def clients(redis_server, redis_client):
    plain = redis.Redis(port=redis_server.port, socket_timeout=2, **PROTOCOL)
    yield plain, pinned(plain, redis_py())
    plain.close()


def at_once(target: Callable[[], None], count: int) -> None:
    """Run ``target`` in ``count`` threads started together, until all end."""
    threads = [threading.Thread(target=target) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def answers(client: redis.Redis) -> list[object]:
    """What a run of commands answers, errors by class."""
    results: list[object] = []
    steps = [
        lambda: client.set("k", "v", ex=60),
        lambda: client.set("k", "w", nx=True),
        lambda: client.get("k"),
        lambda: client.getex("k", ex=120),
        lambda: client.ttl("k"),
        lambda: client.exists("k", "missing"),
        lambda: client.sadd("set", "a", "b"),
        lambda: sorted(client.smembers("set")),
        lambda: client.set("ké", "välue"),
        lambda: client.get("ké"),
        lambda: client.set("float", 1.5),  # a float: redis-py's own packing
        lambda: client.incrbyfloat("float", 0.25),
        lambda: client.set("bool", True),  # refused by redis-py: DataError
        lambda: client.lpush("set", "x"),  # WRONGTYPE: an error reply
        lambda: client.get("k"),  # the connection is still in step
        lambda: client.register_script(SCRIPT)(keys=["k"], args=["arg"]),  # NOSCRIPT first
        lambda: client.script_flush(),
        lambda: client.register_script(SCRIPT)(keys=["k"], args=["again"]),
        lambda: client.pipeline().set("p", 1).incr("p").execute(),
        lambda: sorted(client.scan_iter(match="*")),
        lambda: client.delete("k", "set", "p", "ké", "float"),
    ]
    for step in steps:
        try:
            results.append(step())
        except redis.RedisError as error:
            results.append(type(error))
    return results


def test_a_pinned_client_answers_as_redis_py_does(clients, redis_client):
    plain, pinned_client = clients
    expected = answers(plain)
    redis_client.flushdb()
    assert answers(pinned_client) == expected
    assert redis.exceptions.ResponseError in expected


PLAIN_COMMANDS = [
    ("GET", "k"),
    ("GETEX", "k", "EX", 86_400),
    ("SET", "ké", "välue", "PX", -1),
    ("SET", b"k", b"\x00\xff\r\n", "NX"),
    ("INCRBY", "n", 10**20),
    ("EVALSHA", "a" * 40, 1, "k", '{"cookie":{}}', 0),
]
OTHER_COMMANDS = [
    ("SET", "k", 1.5),
    ("SET", "k", True),
    ("SET", "k", None),
    ("SET", "k", bytearray(b"v")),
    ("SET", "k", memoryview(b"v")),
    ("SCRIPT LOAD", "return 1"),
    (b"SCRIPT LOAD", "return 1"),
]


def command_id(args: tuple) -> str:
    return " ".join(arg if isinstance(arg, str) else type(arg).__name__ for arg in args)


@pytest.mark.parametrize("args", PLAIN_COMMANDS + OTHER_COMMANDS, ids=command_id)
def test_a_command_is_packed_as_redis_py_packs_it_or_left_to_it(args):
    ours = packed(args)
    assert (ours is not None) == (args in PLAIN_COMMANDS)
    if ours is not None:
        assert b"".join(ours) == b"".join(redis.Connection().pack_command(*args))


def test_a_client_of_another_encoding_keeps_redis_pys_packing(redis_server, redis_client):
    plain = redis.Redis(port=redis_server.port, encoding="latin-1", **PROTOCOL)
    pinned_client = pinned(plain, redis_py())
    pinned_client.set("latin", "é")
    assert redis_client.get("latin") == b"\xe9" == pinned_client.get("latin")
    plain.close()


def test_each_thread_has_its_own_connection_and_gives_it_back(redis_server):
    pool = redis.ConnectionPool(port=redis_server.port, max_connections=ROOMY_POOL, **PROTOCOL)
    client = pinned(redis.Redis(connection_pool=pool), redis_py())
    assert client is not None and type(client) is not redis.Redis
    seen: list[int] = []

    def command() -> None:
        seen.append(client.client_id())

    for _ in range(5):  # one after another: each takes the connection the last gave back
        thread = threading.Thread(target=command)
        thread.start()
        thread.join()
    assert len(seen) == 5 and len(set(seen)) == 1
    together = threading.Barrier(2)

    def command_while_the_other_lives() -> None:
        command()
        together.wait(timeout=5)

    at_once(command_while_the_other_lives, 2)
    assert len(set(seen[-2:])) == 2  # alive at once: two connections
    pool.disconnect()


@pytest.mark.parametrize(
    "pool_class", [redis.BlockingConnectionPool, redis.ConnectionPool], ids=["blocking", "capped"]
)
def test_a_pool_bounded_below_a_connection_per_thread_is_not_pinned(redis_server, pool_class):
    pool = pool_class(port=redis_server.port, max_connections=ROOMY_POOL - 1, **PROTOCOL)
    client = redis.Redis(connection_pool=pool)
    assert pinned(client, redis_py()) is client


def test_more_live_threads_than_a_blocking_pool_holds_all_get_answers(redis_server):
    pool = redis.BlockingConnectionPool(
        port=redis_server.port, max_connections=2, timeout=1, **PROTOCOL
    )
    client = pinned(redis.Redis(connection_pool=pool), redis_py())
    alive = threading.Barrier(6)
    answered: list[object] = []

    def serve() -> None:  # as a server's thread: it lives on after its command
        try:
            answered.append(client.ping())
        except redis.RedisError as error:
            answered.append(error)
        with contextlib.suppress(threading.BrokenBarrierError):
            alive.wait(timeout=3)

    at_once(serve, 6)
    assert answered == [True] * 6
    pool.disconnect()


# A gevent worker: monkey-patched, each request a greenlet that lives on (keep-alive)
# after its commands. Greenlets come one after another, each answered before the next.
GEVENT_WORKER = """
from gevent import monkey

monkey.patch_all()
import sys

import gevent
import gevent.event
import redis

from django_express_session.stores.redis.libraries import redis_py
from django_express_session.stores.redis.pinned import pinned

client = pinned(redis.Redis(port=int(sys.argv[1])), redis_py())
answers, done = [], gevent.event.Event()


def serve():
    try:
        answers.append(client.ping())
    except redis.RedisError as error:
        answers.append(type(error).__name__)
    done.wait(10)


greenlets = []
for count in range(1, 251):
    greenlets.append(gevent.spawn(serve))
    while len(answers) < count:
        gevent.sleep(0.001)
done.set()
gevent.joinall(greenlets)
print(answers.count(True), set(answers) - {True} or "", type(client).__name__)
"""


def test_under_gevent_living_greenlets_do_not_each_keep_a_connection(redis_server):
    run = subprocess.run(
        [sys.executable, "-c", GEVENT_WORKER, str(redis_server.port)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["250", "Redis"]


def _in_child(client: redis.Redis, results) -> None:
    results.put((client.client_id(), client.get("forked")))


def test_a_forked_process_does_not_share_the_parents_connection(clients, redis_client):
    _, pinned_client = clients
    redis_client.set("forked", "yes")
    parent = pinned_client.client_id()
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    child = context.Process(target=_in_child, args=(pinned_client, results))
    child.start()
    child_id, value = results.get(timeout=10)
    child.join(10)
    assert child.exitcode == 0 and value == b"yes" and child_id != parent
    assert pinned_client.client_id() == parent  # the parent's connection is intact


def test_a_broken_connection_is_made_again_once(clients, redis_client):
    _, pinned_client = clients
    first = pinned_client.client_id()
    redis_client.client_kill_filter(_id=first)  # as a restart would
    assert pinned_client.get("missing") is None
    assert pinned_client.client_id() != first
