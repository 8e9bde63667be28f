"""The redis store's per-user index, on a real redis-server and on the 3-primary test
cluster: the sets Django's writes keep, what ``sessions_of`` finds and drops, the
sessions connect-redis wrote (found by a thorough search and by ``reindex``)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

import pytest
from django.core.exceptions import ImproperlyConfigured
from redis.cluster import RedisCluster

from django_express_session.owner import Owner
from django_express_session.record import dumps, format_js_date
from django_express_session.stores.redis import RedisStore
from tests.helpers import stored_session
from tests.servers.redis import commands_sent
from tests.test_store_redis_node import connect_redis, run_store_call

HOUR_MS = 3_600_000
ALICE = Owner("1", "alice")
BOB = Owner("2", "bob")


@pytest.fixture(params=["server", "cluster"])
def where(request):
    """The store and a client to look at its keys: on one server, or on the cluster."""
    if request.param == "server":
        options = request.getfixturevalue("store_redis")["options"]
        raw = request.getfixturevalue("redis_client")
    else:
        raw = request.getfixturevalue("redis_cluster_client")
        # A first command also discovers the cluster's layout: more time than the default.
        options = {"client": raw, "timeout": 2}
    store = RedisStore.from_options({**options, "scanCount": 7})
    yield store, raw
    store.close()


@pytest.fixture
def store(where) -> RedisStore:
    return where[0]


@pytest.fixture
def raw(where):
    return where[1]


def django_login(user_id: str, max_age: int | None = HOUR_MS, **data) -> dict:
    return stored_session({"_auth_user_id": user_id, **data}, max_age=max_age)


def passport_login(name: str, max_age: int | None = HOUR_MS) -> dict:
    return stored_session({"passport": {"user": name}}, max_age=max_age)


def index_sets(raw) -> list[bytes]:
    if isinstance(raw, RedisCluster):
        return sorted(raw.keys("users:*", target_nodes=RedisCluster.PRIMARIES))
    return sorted(raw.keys("users:*"))


def members(raw, key: str) -> set[str]:
    return {sid.decode() for sid in raw.smembers(key)}


# -- the sets each write keeps ----------------------------------------------------------


def test_a_login_files_the_session_under_the_user_id_and_the_passport_user(store, raw):
    store.create("a1", django_login("1", passport={"user": "alice"}))
    store.create("anon", stored_session({"views": 1}))
    assert members(raw, "users:sess:d:1") == {"a1"}
    assert members(raw, 'users:sess:p:"alice"') == {"a1"}
    assert index_sets(raw) == [b"users:sess:d:1", b'users:sess:p:"alice"']


def test_the_sets_outlive_their_longest_session_twice_over(store, raw):
    store.create("short", django_login("1", max_age=60_000))
    assert 119 <= raw.ttl("users:sess:d:1") <= 120
    store.create("long", django_login("1", max_age=HOUR_MS))
    assert 7199 <= raw.ttl("users:sess:d:1") <= 7200
    store.create("shorter", django_login("1", max_age=10_000))
    assert raw.ttl("users:sess:d:1") > 7000  # never shortened

    raw.expire("users:sess:d:1", 5)
    store.touch("long", django_login("1", max_age=HOUR_MS))
    assert 7199 <= raw.ttl("users:sess:d:1") <= 7200


def saved_ago(record: dict, milliseconds: int) -> dict:
    """``record`` as the write ``milliseconds`` ago left it (its cookie's expiry then)."""
    expires = record["cookie"]["originalMaxAge"] - milliseconds
    moment = datetime.now(timezone.utc) + timedelta(milliseconds=expires)
    return {**record, "cookie": {**record["cookie"], "expires": format_js_date(moment)}}


def test_a_touching_read_soon_after_the_write_sends_nothing_for_the_sets(store_redis, redis_client):
    store = RedisStore.from_options(store_redis["options"])
    store.create("a1", django_login("1"))
    store.read("a1", touch=True)  # (loads the script)
    sent = commands_sent(redis_client, lambda: store.read("a1", touch=True))
    assert sent == ["EVALSHA"]  # one round trip, as for an anonymous session
    store.close()


def test_a_touching_read_a_ttl_after_the_write_keeps_the_sets_alive(store, raw):
    # Written over an hour ago and touched since (its key lives on, its set about to go).
    raw.set("sess:old", dumps(saved_ago(django_login("1"), HOUR_MS + 60_000)), ex=HOUR_MS // 1000)
    raw.sadd("users:sess:d:1", "old")
    raw.expire("users:sess:d:1", 5)
    assert store.read("old", touch=True).touched
    assert 7199 <= raw.ttl("users:sess:d:1") <= 7200


def test_a_set_of_sessions_without_expiry_has_none(store_redis, redis_client):
    store = RedisStore.from_options({**store_redis["options"], "disableTTL": True})
    store.create("forever", django_login("1"))
    assert redis_client.ttl("users:sess:d:1") == -1


def test_a_logout_or_another_user_moves_the_session_between_sets(store, raw):
    store.create("s", django_login("1"))
    known = store.read("s")
    assert store.replace("s", django_login("2"), known.version)
    assert members(raw, "users:sess:d:1") == set()
    assert members(raw, "users:sess:d:2") == {"s"}

    known = store.read("s")
    assert store.replace("s", stored_session({"views": 3}), known.version)
    assert not raw.exists("users:sess:d:2")


def test_a_write_that_lost_its_compare_and_set_leaves_the_sets_alone(store, raw):
    store.create("s", django_login("1"))
    stale = store.read("s").version
    assert store.replace("s", django_login("1", views=1), stale)
    assert not store.replace("s", stored_session({}), stale)
    assert members(raw, "users:sess:d:1") == {"s"}


def test_a_logged_in_write_and_its_filing_are_one_round_trip_on_one_server(
    store_redis, redis_client
):
    store = RedisStore.from_options(store_redis["options"])
    store.create("s", django_login("1"))
    known = store.read("s")
    assert store.replace("s", django_login("1", views=1), known.version)  # loads the script
    known = store.read("s")
    sent = commands_sent(
        redis_client, lambda: store.replace("s", django_login("1", views=2), known.version)
    )
    assert sent == ["EVALSHA"]
    assert members(redis_client, "users:sess:d:1") == {"s"}
    assert 7199 <= redis_client.ttl("users:sess:d:1") <= 7200
    store.close()


def test_a_write_files_a_session_another_app_wrote_unfiled(store, raw):
    raw.set("sess:s", dumps(django_login("1")), ex=HOUR_MS // 1000)  # connect-redis's way
    known = store.read("s")
    assert store.replace("s", django_login("1", views=1), known.version)
    assert members(raw, "users:sess:d:1") == {"s"}


def test_destroy_takes_the_session_out_of_its_sets(store, raw):
    store.create("s", django_login("1", passport={"user": "alice"}))
    store.create("t", django_login("1"))
    store.destroy("s")
    assert members(raw, "users:sess:d:1") == {"t"}
    assert not raw.exists('users:sess:p:"alice"')
    store.destroy("s")  # gone already: no error


def test_the_asyncio_primitives_keep_the_same_sets(store, raw):
    async def use():
        await store.acreate("s", django_login("1"))
        known = await store.aread("s")
        assert await store.areplace("s", django_login("2"), known.version)
        await store.acreate("t", passport_login("bob"))
        await store.adestroy("t")

    asyncio.run(use())
    assert members(raw, "users:sess:d:2") == {"s"}
    assert not raw.exists("users:sess:d:1")
    assert not raw.exists('users:sess:p:"bob"')


# -- sessions_of ------------------------------------------------------------------------


@pytest.fixture
def logins(store) -> dict[str, dict]:
    """Alice on three devices (two in Django, one through passport), Bob on one."""
    made = {
        "alice-laptop": django_login("1"),
        "alice-phone": django_login("1", passport={"user": "alice"}),
        "alice-express": passport_login("alice"),
        "bob-laptop": django_login("2", passport={"user": "bob"}),
    }
    for sid, record in made.items():
        store.create(sid, record)
    return made


def test_sessions_of_lists_the_users_sessions_by_either_key(store, logins):
    alice = {sid: record for sid, record in logins.items() if sid.startswith("alice")}
    assert store.sessions_of(ALICE) == alice
    assert store.sessions_of(Owner("1")) == {
        sid: logins[sid] for sid in ("alice-laptop", "alice-phone")
    }
    assert store.sessions_of(BOB) == {"bob-laptop": logins["bob-laptop"]}
    assert store.sessions_of(Owner("3", "carol")) == {}


def test_asessions_of_agrees(store, logins):
    assert asyncio.run(store.asessions_of(ALICE)) == store.sessions_of(ALICE)
    assert asyncio.run(store.asessions_of(BOB, thorough=True)) == store.sessions_of(BOB)


def test_sessions_that_expired_or_changed_hands_behind_its_back_are_dropped(store, raw, logins):
    raw.delete("sess:alice-laptop")  # expired
    # Rewritten by Node (which keeps no index) for another user.
    raw.set("sess:alice-phone", '{"cookie":{"originalMaxAge":null},"_auth_user_id":"2"}')
    raw.set("sess:alice-express", "not JSON")
    assert store.sessions_of(ALICE) == {}
    assert not raw.exists("users:sess:d:1")
    assert not raw.exists('users:sess:p:"alice"')
    assert store.sessions_of(BOB) == {"bob-laptop": logins["bob-laptop"]}


def test_sessions_of_is_three_round_trips_on_one_server(store_redis, redis_client):
    store = RedisStore.from_options(store_redis["options"])
    for index in range(20):
        store.create(f"s{index}", django_login("1", passport={"user": "alice"}))
    store.create("gone", django_login("1"))
    redis_client.delete("sess:gone")
    sent = commands_sent(redis_client, lambda: store.sessions_of(ALICE))
    # The sets (one pipeline), the records (one MGET), the stale entry (one pipeline).
    assert sent == ["SMEMBERS", "SMEMBERS", "MGET", "SREM"]
    assert len(store.sessions_of(ALICE)) == 20
    store.close()


def test_a_user_with_many_sessions_is_read_in_batches(store_redis, redis_client, monkeypatch):
    monkeypatch.setattr("django_express_session.stores.redis.index.MGET_BATCH", 7)
    store = RedisStore.from_options(store_redis["options"])
    made = {f"s{index}": django_login("1") for index in range(20)}
    for sid, record in made.items():
        store.create(sid, record)
    found = {}
    sent = commands_sent(redis_client, lambda: found.update(store.sessions_of(Owner("1"))))
    assert sent == ["SMEMBERS", "MGET", "MGET", "MGET"]
    assert found == made
    store.close()


# -- sessions connect-redis wrote ---------------------------------------------------------


def test_a_session_node_wrote_is_found_by_a_thorough_search_and_filed(
    store_redis, redis_server, redis_client
):
    store = RedisStore.from_options(store_redis["options"])
    connect_redis(
        redis_server,
        [
            {"op": "set", "sid": "node-alice", "session": passport_login("alice")},
            {"op": "set", "sid": "node-bob", "session": passport_login("bob")},
            # Holds Alice's keys as text only: the prefilter lets it through, the check not.
            {"op": "set", "sid": "lookalike", "session": django_login("11", note='"user":"alice"')},
        ],
    )
    store.create("django-alice", django_login("1"))

    assert set(store.sessions_of(ALICE)) == {"django-alice"}  # Node files nothing
    assert set(store.sessions_of(ALICE, thorough=True)) == {"django-alice", "node-alice"}
    assert set(store.sessions_of(ALICE)) == {"django-alice", "node-alice"}  # filed now
    assert 7190 <= redis_client.ttl('users:sess:p:"alice"') <= 7200  # twice its TTL
    assert not redis_client.exists('users:sess:p:"bob"')
    store.close()


def test_a_session_node_wrote_is_not_filed_by_a_touch_but_by_a_thorough_search(
    store_redis, redis_server, redis_client
):
    store = RedisStore.from_options(store_redis["options"])
    connect_redis(redis_server, [{"op": "set", "sid": "n", "session": passport_login("alice")}])
    assert store.read("n", touch=True).touched
    assert set(store.sessions_of(ALICE)) == set()  # (a touch spends no round trip on it)
    assert set(store.sessions_of(ALICE, thorough=True)) == {"n"}
    assert set(store.sessions_of(ALICE)) == {"n"}
    store.close()


def test_reindex_files_what_node_wrote_and_drops_stale_entries(
    store_redis, redis_server, redis_client
):
    store = RedisStore.from_options({**store_redis["options"], "scanCount": 3})
    written = [
        {"op": "set", "sid": f"node{index}", "session": passport_login(f"user{index % 3}")}
        for index in range(10)
    ]
    connect_redis(redis_server, written)
    store.create("django", django_login("1", passport={"user": "user0"}))
    redis_client.sadd("users:sess:d:1", "long-gone")
    redis_client.sadd('users:sess:p:"user1"', "django")  # user0's, not user1's
    steps = []

    assert store.reindex(dry_run=True) == 12
    assert members(redis_client, 'users:sess:p:"user1"') == {"django"}  # nothing changed
    assert not redis_client.exists('users:sess:p:"user2"')

    assert store.reindex(progress=steps.append) == 12  # 10 added, 2 removed
    assert steps == sorted(steps) and steps[-1] == 12 and len(steps) > 2
    assert members(redis_client, 'users:sess:p:"user1"') == {"node1", "node4", "node7"}
    assert members(redis_client, "users:sess:d:1") == {"django"}
    assert set(store.sessions_of(Owner(None, "user0"))) == {
        "django",
        "node0",
        "node3",
        "node6",
        "node9",
    }
    assert store.reindex() == 0
    store.close()


def test_reindex_on_the_cluster(redis_cluster, redis_cluster_client):
    store = RedisStore.from_options({"client": redis_cluster_client, "timeout": 2})
    cluster_urls = [f"redis://127.0.0.1:{server.port}" for server in redis_cluster.servers]
    written = [
        {"op": "set", "sid": f"node{index}", "session": passport_login("alice")}
        for index in range(30)
    ]
    run_store_call({"cluster": cluster_urls}, written)
    assert store.sessions_of(ALICE) == {}
    assert store.reindex() == 30
    assert set(store.sessions_of(ALICE)) == {f"node{index}" for index in range(30)}
    store.close()


# -- the index keys ---------------------------------------------------------------------


def test_the_sets_never_count_as_sessions_even_under_the_sessions_prefix(store_redis, redis_client):
    store = RedisStore.from_options({**store_redis["options"], "prefix": ""})
    store.create("s", django_login("1"))
    assert redis_client.exists("users:d:1")
    assert store.length() == 1
    assert set(store.all()) == {"s"}
    store.clear()
    assert store.length() == 0
    store.close()


def test_the_index_prefix_can_be_set_but_not_to_the_sessions_prefix(store_redis, redis_client):
    store = RedisStore.from_options({**store_redis["options"], "indexPrefix": "idx:"})
    store.create("s", django_login("1"))
    assert members(redis_client, "idx:d:1") == {"s"}
    store.close()
    with pytest.raises(ImproperlyConfigured, match="indexPrefix"):
        RedisStore.from_options({**store_redis["options"], "indexPrefix": "sess:"})


def test_a_thorough_search_finds_records_however_their_json_was_spaced_or_escaped(
    store_redis, redis_client
):
    # A Python tool writes ", " and ": " and escapes non-ASCII; the identity bridge reads
    # such a record as alice's (and josé's), so logout_everywhere must end it too.
    store = RedisStore.from_options(store_redis["options"])
    spaced = json.dumps(passport_login("alice"))
    escaped = json.dumps(stored_session({"_auth_user_id": "1", "passport": {"user": "josé"}}))
    redis_client.set("sess:spaced", spaced, ex=3600)
    redis_client.set("sess:escaped", escaped, ex=3600)
    assert "\\u00e9" in escaped and '"user": "alice"' in spaced

    assert set(store.sessions_of(ALICE, thorough=True)) == {"spaced", "escaped"}
    assert set(store.sessions_of(Owner(None, "josé"), thorough=True)) == {"escaped"}
    store.close()
