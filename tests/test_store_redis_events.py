"""``manage.py sessionevents`` (``stores.redis.events``) on real redis-servers, one and
the 3-primary cluster, with sessions written by real connect-redis (``store-call.js``):
they are filed into the per-user index as they are written, an idle expiry is reported,
hostile keys are skipped, and a Redis restart is caught up with."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import redis
from django.core.management import CommandError, call_command

from django_express_session import signals
from django_express_session.management.commands.sessionevents import listener_for
from django_express_session.owner import Owner
from django_express_session.stores.redis import RedisStore
from django_express_session.stores.redis.events import (
    Listener,
    NotificationsUnavailable,
    enable_notifications,
    missing_classes,
)
from tests.helpers import express_session, stored_session
from tests.servers.redis import commands_sent, redis_url
from tests.test_store_redis_node import run_store_call

HOUR_MS = 3_600_000
ALICE = Owner("1", "alice")


def passport_login(name: str, max_age: int | None = HOUR_MS) -> dict:
    return stored_session({"passport": {"user": name}}, max_age=max_age)


def wait_for(condition: Callable[[], object], seconds: float = 5.0) -> object:
    deadline = time.monotonic() + seconds
    while True:
        if found := condition():
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {condition}")
        time.sleep(0.05)


@pytest.fixture(params=["server", "cluster"])
def where(request):
    """The store, a client to look at its keys, and how connect-redis reaches it."""
    if request.param == "server":
        server = request.getfixturevalue("redis_server")
        raw = request.getfixturevalue("redis_client")
        raw.config_set("notify-keyspace-events", "")
        options, node = {"client": redis.Redis(port=server.port)}, {"url": redis_url(server)}
    else:
        cluster = request.getfixturevalue("redis_cluster")
        raw = request.getfixturevalue("redis_cluster_client")
        options = {"client": raw, "timeout": 2}
        node = {"cluster": [f"redis://127.0.0.1:{s.port}" for s in cluster.servers]}
    store = RedisStore.from_options(options)
    yield store, raw, node
    store.close()


@contextmanager
def running(listener: Listener, *, until_live: bool = True) -> Iterator[Listener]:
    """``listener`` running in a thread (live, unless ``until_live`` is False)."""
    thread = threading.Thread(target=listener.run)
    thread.start()
    try:
        if until_live:
            wait_for(lambda: listener.live, 20)
        yield listener
    finally:
        listener.stop()
        thread.join(10)
    assert not thread.is_alive()


@contextmanager
def sessions_ended() -> Iterator[list[tuple[object, str, str]]]:
    """The ``session_ended`` signals sent meanwhile: (session, session_key, reason)."""
    ended = []

    def receiver(sender, session, session_key, reason, **kwargs):
        ended.append((session, session_key, reason))

    signals.session_ended.connect(receiver)
    try:
        yield ended
    finally:
        signals.session_ended.disconnect(receiver)


@pytest.fixture
def listening(where) -> Iterator[tuple[RedisStore, Listener, dict]]:
    store, _, node = where
    expired: list[str] = []
    listener = Listener(store, on_expired=expired.append, beat=0.5)
    listener.expired = expired
    with running(listener):
        yield store, listener, node


def listed(store: RedisStore, owner: Owner) -> list[str]:
    return sorted(store.sessions_of(owner))


def test_missing_classes_reads_the_setting_as_redis_writes_it():
    assert missing_classes("") == "K$gx"
    assert missing_classes("AK") == ""
    assert missing_classes("Egx") == "K$"
    assert missing_classes("KE$gx") == ""


def test_notifications_are_turned_on_or_the_error_says_how(redis_server, redis_client):
    redis_client.config_set("notify-keyspace-events", "Elg")
    with pytest.raises(NotificationsUnavailable) as refused:
        enable_notifications(redis_client, configure=False)
    message = str(refused.value)
    assert "notify-keyspace-events K$gx" in message
    assert f":{redis_server.port}" in message
    assert redis_client.config_get("notify-keyspace-events")["notify-keyspace-events"] == "glE"

    assert enable_notifications(redis_client) is True
    setting = redis_client.config_get("notify-keyspace-events")["notify-keyspace-events"]
    assert missing_classes(setting) == "" and "l" in setting  # what was set is kept
    assert enable_notifications(redis_client) is False


def test_a_server_that_refuses_config_gets_how_to_set_it(redis_server, redis_client):
    redis_client.config_set("notify-keyspace-events", "")
    redis_client.acl_setuser(
        "listener", enabled=True, passwords=["+pw"], keys=["*"], channels=["*"],
        commands=["+@all", "-config"],
    )  # fmt: skip
    try:
        limited = redis.Redis(port=redis_server.port, username="listener", password="pw")
        with pytest.raises(NotificationsUnavailable, match=r"CONFIG GET was refused.*redis.conf"):
            enable_notifications(limited)
    finally:
        redis_client.acl_deluser("listener")


def test_an_express_login_is_filed_within_seconds(listening):
    store, _, node = listening
    run_store_call(node, [{"op": "set", "sid": "express-1", "session": passport_login("alice")}])
    assert wait_for(lambda: listed(store, ALICE)) == ["express-1"]


def test_an_express_touch_keeps_the_sets_as_long_as_the_session(listening, where):
    store, _, node = listening
    _, raw, _ = where
    run_store_call(node, [{"op": "set", "sid": "t", "session": passport_login("alice", 60_000)}])
    index = store.index_key('p:"alice"')
    wait_for(lambda: raw.pttl(index) > 0)
    run_store_call(node, [{"op": "touch", "sid": "t", "session": passport_login("alice", HOUR_MS)}])
    # connect-redis moved the session's TTL to an hour: the set follows (twice the TTL).
    wait_for(lambda: raw.pttl(index) > HOUR_MS)


def test_an_idle_expiry_is_reported(listening):
    store, listener, node = listening
    # A TTL of 2 s from the write (connect-redis's ttl function), whenever Node gets to it.
    idle = [{"op": "set", "sid": "idle", "session": passport_login("alice")}]
    run_store_call({**node, "ttlSeconds": 2}, idle)
    assert wait_for(lambda: listed(store, ALICE)) == ["idle"]
    assert wait_for(lambda: listener.expired, 15) == ["idle"]
    assert listed(store, ALICE) == []


def test_hostile_keys_are_skipped_and_the_listening_goes_on(listening, where):
    store, listener, node = listening
    _, raw, _ = where
    raw.hset("sess:a-hash", "x", "1")
    raw.set("sess:not-json", b"\xff{")
    raw.set("sess:a-list", "[1, 2]")
    raw.set("sess:deep", "[" * 100_000)
    raw.set(
        "sess:huge", '{"cookie": {}, "passport": {"user": "alice"}, "x": "' + "y" * 2_000_000 + '"}'
    )
    raw.set("sess:odd-user", '{"cookie": {}, "passport": {"user": {"id": [1, {"a": null}]}}}')
    raw.set("sess:\xff\xfe-id", "{}")
    raw.expire("sess:a-hash", 1)
    run_store_call(node, [{"op": "set", "sid": "fine", "session": passport_login("alice")}])
    assert wait_for(lambda: listed(store, ALICE)) == ["fine"]
    wait_for(lambda: listener.counts.skipped >= 4)
    assert listener.live


def test_a_thorough_listing_trusts_a_live_index(listening, where, redis_client):
    store, _, node = listening
    if isinstance(where[1], redis.RedisCluster):
        pytest.skip("MONITOR watches one server")
    run_store_call(node, [{"op": "set", "sid": "e", "session": passport_login("alice")}])
    wait_for(lambda: listed(store, ALICE))
    wait_for(store.index_is_live)  # said on the listener's next beat
    sent = commands_sent(redis_client, lambda: store.sessions_of(ALICE, thorough=True))
    assert "SCAN" not in sent


def test_the_listener_catches_up_after_a_restart_of_redis(redis_outage_server):
    server = redis_outage_server
    store = RedisStore.from_options({"client": redis.Redis(port=server.port)})
    node = {"url": redis_url(server)}
    try:
        with running(Listener(store, beat=0.5)) as listener:
            _restart_and_catch_up(server, store, listener, node)
    finally:
        store.close()


def _restart_and_catch_up(server, store: RedisStore, listener: Listener, node: dict) -> None:
    run_store_call(node, [{"op": "set", "sid": "before", "session": passport_login("alice")}])
    assert wait_for(lambda: listed(store, ALICE)) == ["before"]

    server.stop()  # no persistence: it comes back empty, notifications off
    wait_for(lambda: not listener.live, 10)
    server.start()
    run_store_call(node, [{"op": "set", "sid": "after", "session": passport_login("alice")}])
    assert wait_for(lambda: listed(store, ALICE), 15) == ["after"]
    wait_for(lambda: listener.live, 10)
    assert listener.counts.catch_ups >= 2


def test_a_listener_started_after_a_restart_files_what_was_written_meanwhile(
    redis_outage_server,
):
    server = redis_outage_server
    node = {"url": redis_url(server)}
    server.stop()
    server.start()
    run_store_call(node, [{"op": "set", "sid": "while-away", "session": passport_login("alice")}])
    store = RedisStore.from_options({"client": redis.Redis(port=server.port)})
    assert listed(store, ALICE) == []
    try:
        with running(Listener(store, beat=0.5), until_live=False):
            assert wait_for(lambda: listed(store, ALICE), 10) == ["while-away"]
    finally:
        store.close()
    assert not store.index_is_live()  # a stopped listener says so


def test_the_command_sends_session_ended_expired(store_redis, settings, redis_server):
    settings.EXPRESS_SESSION = express_session(store=store_redis)
    from django_express_session import conf

    store = conf.get_store()
    with sessions_ended() as ended, running(listener_for(store, beat=0.5)):
        node = {"url": redis_url(redis_server), "ttlSeconds": 2}
        run_store_call(node, [{"op": "set", "sid": "x", "session": passport_login("bob")}])
        assert wait_for(lambda: ended, 15) == [(None, "x", "expired")]


def test_the_command_refuses_other_stores_and_checks(settings, store_redis, redis_client):
    settings.EXPRESS_SESSION = express_session(store={"backend": "memory"})
    with pytest.raises(CommandError, match=r"Redis only.*reindexsessions"):
        call_command("sessionevents")
    settings.EXPRESS_SESSION = express_session(store=store_redis)
    redis_client.config_set("notify-keyspace-events", "")
    with pytest.raises(CommandError, match=r"notify-keyspace-events K\$gx"):
        call_command("sessionevents", "--check", "--no-configure")
    call_command("sessionevents", "--check")
    assert (
        missing_classes(redis_client.config_get("notify-keyspace-events")["notify-keyspace-events"])
        == ""
    )
