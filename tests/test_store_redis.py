"""The redis store against a real redis-server: connect-redis's layout and expiry rules,
the safe writes, the bulk methods, the options and the connection forms."""

from __future__ import annotations

import asyncio
import math
import threading
import time

import pytest
import redis
from django.core.exceptions import ImproperlyConfigured

from django_express_session.exceptions import CorruptRecord, CreateError, UpdateError
from django_express_session.record import Changes, dumps
from django_express_session.stores.redis import RedisStore
from tests.helpers import (
    cookie_header,
    idle_expiry_in_real_time,
    merge,
    set_cookie,
    sid_of,
    stored_session,
)
from tests.servers.redis import CACHE_ALIAS, PROTOCOL, commands_sent, redis_url

HOUR_MS = 3_600_000
DAY = 86400


@pytest.fixture
def make_store(store_redis):
    """Build a store on the test server's cache alias, with extra options."""
    stores = []

    def make(**options) -> RedisStore:
        store = RedisStore.from_options({**store_redis["options"], **options})
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def store(make_store) -> RedisStore:
    return make_store()


# -- expiry by the server's clock (tests/test_lifetime.py moves the package's) --------


@pytest.fixture
def store_settings(store_redis):
    """``express`` on this server only."""
    return store_redis


@pytest.mark.django_db
def test_the_servers_ttl_ends_an_idle_session_and_activity_keeps_it(client, express, settings):
    express(rolling=True, cookie={"maxAge": 1000})
    settings.ROOT_URLCONF = "tests.lifetime_urls"
    idle_expiry_in_real_time(client, 1000)


@pytest.mark.django_db
def test_touch_after_is_judged_by_the_ttl_the_server_has_left(client, express, settings, spy):
    express(touchAfter=0.5, rolling=True, cookie={"maxAge": 60_000})
    settings.ROOT_URLCONF = "tests.lifetime_urls"
    header = cookie_header(sid_of(set_cookie(client.get("/set", {"v": "x"}))))
    calls = spy()
    response = client.get("/noop", HTTP_COOKIE=header)
    assert calls.take() == ["get"]  # written a moment ago: no touch
    assert set_cookie(response) is None  # nor a rolling cookie without the store's refresh
    time.sleep(0.6)
    response = client.get("/noop", HTTP_COOKIE=header)
    assert calls.take() == ["get", "touch"]
    assert set_cookie(response) is not None


# -- layout ---------------------------------------------------------------------------


def test_set_writes_the_json_under_prefix_and_sid_with_the_cookie_ttl(store, redis_client):
    session = stored_session({"views": 1, "name": "Zoë"}, max_age=HOUR_MS)
    store.set("abc", session)
    assert redis_client.type("sess:abc") == b"string"
    assert redis_client.get("sess:abc") == dumps(session).encode()
    assert 3599 <= redis_client.ttl("sess:abc") <= 3600


def test_a_browser_session_cookie_gets_the_ttl_option_or_one_day(make_store, redis_client):
    session = stored_session({"views": 1}, max_age=None)
    make_store().set("default", session)
    make_store(ttl=600).set("custom", session)
    assert DAY - 1 <= redis_client.ttl("sess:default") <= DAY
    assert 599 <= redis_client.ttl("sess:custom") <= 600


def test_the_ttl_number_is_ignored_when_the_cookie_expires(make_store, redis_client):
    make_store(ttl=600).set("abc", stored_session({}, max_age=HOUR_MS))
    assert redis_client.ttl("sess:abc") > 600


def test_a_ttl_function_decides_alone(make_store, redis_client):
    store = make_store(ttl=lambda session: 42 + session["views"])
    store.set("abc", stored_session({"views": 1}, max_age=HOUR_MS))
    assert 42 <= redis_client.ttl("sess:abc") <= 43


def test_the_ttl_may_be_a_dotted_path(make_store, redis_client):
    make_store(ttl="tests.test_store_redis.ten_minutes").set("abc", stored_session({}))
    assert 599 <= redis_client.ttl("sess:abc") <= 600


def ten_minutes(session) -> int:
    return 600


def test_the_ttl_rounds_the_remaining_milliseconds_up(store, redis_client):
    session = stored_session({}, max_age=1500)
    store.set("abc", session)
    assert redis_client.ttl("sess:abc") == 2


def test_setting_an_expired_session_deletes_it(store, redis_client):
    store.set("abc", stored_session({"views": 1}))
    store.set("abc", stored_session({"views": 2}, max_age=-1000))
    assert not redis_client.exists("sess:abc")


def test_disable_ttl_stores_without_expiry(make_store, redis_client):
    make_store(disableTTL=True).set("abc", stored_session({}, max_age=HOUR_MS))
    assert redis_client.ttl("sess:abc") == -1


def test_a_custom_or_empty_prefix(make_store, redis_client):
    make_store(prefix="myapp:").set("abc", stored_session({}))
    make_store(prefix="").set("def", stored_session({}))
    assert redis_client.exists("myapp:abc", "def") == 2


# -- get, destroy, touch ----------------------------------------------------------------


def test_get_returns_what_was_set_and_none_when_missing(store):
    session = stored_session({"cart": [1, 2], "user": {"id": 7}})
    store.set("abc", session)
    assert store.get("abc") == session
    assert store.get("missing") is None


@pytest.mark.parametrize("stored", [b"not json", b'{"views": 1}', b"[1, 2]"])
def test_a_corrupt_record_is_an_error_not_an_empty_session(store, redis_client, stored):
    redis_client.set("sess:abc", stored)
    with pytest.raises(CorruptRecord):
        store.read("abc")
    assert store.get("abc") is None  # express's get: logged, and treated as missing
    assert redis_client.get("sess:abc") == stored


def test_destroy_deletes_the_key(store, redis_client):
    store.set("abc", stored_session({}))
    store.destroy("abc")
    store.destroy("never-there")
    assert not redis_client.exists("sess:abc")


def test_touch_moves_the_ttl_and_leaves_the_value(store, redis_client):
    session = stored_session({"views": 1}, max_age=HOUR_MS)
    store.set("abc", session)
    redis_client.expire("sess:abc", 5)
    store.touch("abc", stored_session({"views": 1}, max_age=HOUR_MS))
    assert 3599 <= redis_client.ttl("sess:abc") <= 3600
    # As connect-redis: the stored cookie.expires stays as it was.
    assert redis_client.get("sess:abc") == dumps(session).encode()


def test_touch_never_recreates_a_destroyed_session(store, redis_client):
    store.touch("abc", stored_session({}))
    assert not redis_client.exists("sess:abc")


@pytest.mark.parametrize("option", ["disableTouch", "disableTTL"])
def test_touch_does_nothing_when_disabled(make_store, redis_client, option):
    store = make_store(**{option: True})
    store.set("abc", stored_session({}, max_age=HOUR_MS))
    redis_client.expire("sess:abc", 5)
    assert commands_sent(redis_client, lambda: store.touch("abc", stored_session({}))) == []
    assert redis_client.ttl("sess:abc") <= 5


# -- read: load and touch in one round trip ---------------------------------------------


def test_read_with_touch_refreshes_the_ttl_in_one_command(store, redis_client):
    session = stored_session({"views": 1}, max_age=HOUR_MS)
    store.set("abc", session)
    store.read("abc", touch=True)  # the server learns the script on first use
    redis_client.expire("sess:abc", 5)
    result = {}
    sent = commands_sent(redis_client, lambda: result.update(read=store.read("abc", touch=True)))
    assert sent == ["EVALSHA"]
    assert result["read"].record == session
    assert result["read"].touched
    # express resets cookie.expires to now + originalMaxAge before it touches.
    assert 3599 <= redis_client.ttl("sess:abc") <= 3600
    assert redis_client.get("sess:abc") == dumps(session).encode()


def test_read_with_touch_of_a_browser_session_uses_the_ttl_option(make_store, redis_client):
    store = make_store(ttl=600)
    store.set("abc", stored_session({}, max_age=None))
    redis_client.expire("sess:abc", 5)
    assert store.read("abc", touch=True).touched
    assert 599 <= redis_client.ttl("sess:abc") <= 600


def test_read_with_touch_matches_connect_redis_rounding(store, redis_client):
    store.set("abc", stored_session({}, max_age=90_500))
    store.read("abc", touch=True)
    assert redis_client.ttl("sess:abc") == math.ceil(90_500 / 1000)


def test_read_without_touch_leaves_the_ttl(store, redis_client):
    store.set("abc", stored_session({}, max_age=HOUR_MS))
    redis_client.expire("sess:abc", 5)
    result = store.read("abc")
    assert not result.touched
    assert redis_client.ttl("sess:abc") <= 5


@pytest.mark.parametrize(
    "options", [{"disableTouch": True}, {"disableTTL": True}, {"ttl": ten_minutes}]
)
def test_read_does_not_touch_when_the_store_cannot_in_redis(make_store, redis_client, options):
    # Disabled touches do nothing; a ttl function runs in Python at the end-of-request touch.
    store = make_store(**options)
    store.set("abc", stored_session({}, max_age=HOUR_MS))
    redis_client.expire("sess:abc", 5)
    assert not store.read("abc", touch=True).touched
    assert redis_client.ttl("sess:abc") <= 5


def test_read_of_a_missing_session_is_none_and_creates_nothing(store, redis_client):
    assert store.read("abc", touch=True) is None
    assert not redis_client.exists("sess:abc")


def test_read_with_touch_of_a_corrupt_record_is_an_error(store, redis_client):
    redis_client.set("sess:abc", b"\xff not json")
    with pytest.raises(CorruptRecord):
        store.read("abc", touch=True)


@pytest.mark.parametrize("max_age", ["1e300", "1e400", "-1e400", "8.64e15", "-9e15"])
def test_read_with_touch_of_an_out_of_range_max_age_is_no_script_error(
    store, redis_client, max_age
):
    # cjson decodes these (1e400 as inf); no JavaScript Date holds them beyond 8.64e15 ms.
    stored = b'{"cookie":{"originalMaxAge":%s,"expires":null,"path":"/"},"views":1}' % (
        max_age.encode()
    )
    redis_client.set("sess:abc", stored)
    try:
        result = store.read("abc", touch=True)
    except CorruptRecord:
        return  # Python judged the record: a clean answer too
    assert result.version == stored
    assert result.record["views"] == 1


def test_an_out_of_range_max_age_touches_with_the_ttl_option(make_store, redis_client):
    store = make_store(ttl=600)
    redis_client.set("sess:abc", b'{"cookie":{"originalMaxAge":1e400},"views":1}', ex=5)
    with pytest.raises(CorruptRecord):  # the script touched; Python refuses the record
        store.read("abc", touch=True)
    assert 599 <= redis_client.ttl("sess:abc") <= 600


# -- safe writes ----------------------------------------------------------------------


def test_create_never_overwrites(store, redis_client):
    store.create("abc", stored_session({"owner": "first"}))
    with pytest.raises(CreateError):
        store.create("abc", stored_session({"owner": "second"}))
    assert store.get("abc")["owner"] == "first"
    assert 59 <= redis_client.ttl("sess:abc") <= 60


def test_create_without_ttl_when_disabled(make_store, redis_client):
    make_store(disableTTL=True).create("abc", stored_session({}))
    assert redis_client.ttl("sess:abc") == -1


def test_create_of_an_already_expired_session_writes_nothing(store, redis_client):
    store.create("abc", stored_session({}, max_age=-1000))
    assert not redis_client.exists("sess:abc")


def test_replace_writes_when_nobody_wrote_since_the_read(store):
    store.create("abc", stored_session({"views": 1}))
    current = store.read("abc")
    assert store.replace("abc", stored_session({"views": 2}), current.version)
    assert store.get("abc")["views"] == 2


def test_replace_refuses_after_another_write(store):
    store.create("abc", stored_session({"views": 1}))
    current = store.read("abc")
    store.set("abc", stored_session({"views": 5}))
    assert not store.replace("abc", stored_session({"views": 2}), current.version)
    assert store.get("abc")["views"] == 5


def test_replace_never_resurrects_a_destroyed_session(store, redis_client):
    store.create("abc", stored_session({"views": 1}))
    current = store.read("abc")
    store.destroy("abc")
    assert not store.replace("abc", stored_session({"views": 2}), current.version)
    assert not redis_client.exists("sess:abc")


def test_replace_sets_the_ttl_of_the_new_cookie(store, redis_client):
    store.create("abc", stored_session({}, max_age=60_000))
    current = store.read("abc")
    store.replace("abc", stored_session({}, max_age=HOUR_MS), current.version)
    assert 3599 <= redis_client.ttl("sess:abc") <= 3600


def test_replace_with_an_expired_cookie_deletes(store, redis_client):
    store.create("abc", stored_session({}))
    current = store.read("abc")
    assert store.replace("abc", stored_session({}, max_age=-1000), current.version)
    assert not redis_client.exists("sess:abc")


def test_update_of_a_destroyed_session_raises_update_error(store):
    store.create("abc", stored_session({}))
    known = store.read("abc")
    store.destroy("abc")
    with pytest.raises(UpdateError):
        merge(store, "abc", Changes(cookie=known.record["cookie"], assigned={"x": 1}), known)


def test_concurrent_updates_lose_nothing(store):
    session = stored_session({})
    store.create("abc", session)
    known = store.read("abc")

    def add(key: str) -> None:
        merge(store, "abc", Changes(cookie=session["cookie"], assigned={key: True}), known)

    threads = [threading.Thread(target=add, args=(f"k{index}",)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(store.get("abc")) == {"cookie"} | {f"k{index}" for index in range(8)}


# -- bulk methods ---------------------------------------------------------------------


def test_all_length_and_clear_see_only_the_prefix(make_store, redis_client):
    store = make_store(scanCount=3)
    sessions = {f"sid{index}": stored_session({"n": index}) for index in range(20)}
    for sid, session in sessions.items():
        store.set(sid, session)
    redis_client.set("other:key", "kept")
    make_store(prefix="sess:other:").set("x", stored_session({}))  # a longer prefix is inside

    assert store.length() == 21
    assert {sid: s for sid, s in store.all().items() if sid in sessions} == sessions
    store.clear()
    assert store.length() == 0
    assert redis_client.get("other:key") == b"kept"


def test_glob_characters_in_the_prefix_match_themselves(make_store, redis_client):
    store = make_store(prefix="s*[1]:")
    store.set("abc", stored_session({}))
    redis_client.set("s-other:def", "x")
    assert store.length() == 1
    assert list(store.all()) == ["abc"]


def test_bulk_methods_never_use_keys(store, redis_client):
    store.set("abc", stored_session({}))
    sent = commands_sent(redis_client, lambda: (store.all(), store.length(), store.clear()))
    assert "KEYS" not in sent
    assert sent.count("SCAN") >= 3


def test_prune_has_nothing_to_do(store):
    assert store.prune() is None


def test_the_async_twins(store):
    session = stored_session({"views": 1})

    async def use() -> None:
        await store.acreate("abc", session)
        assert (await store.aread("abc", touch=True)).record == session
        assert await store.alength() == 1

    asyncio.run(use())


# -- options and connection forms -----------------------------------------------------


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"prefix": None}, "prefix"),
        ({"ttl": "1h"}, "ttl"),
        ({"ttl": 0}, "ttl"),
        ({"ttl": 1.5}, "ttl"),
        ({"scanCount": 0}, "scanCount"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": "1s"}, "timeout"),
        ({"disableTouch": "yes"}, "disableTouch"),
        ({"disableTTL": 1}, "disableTTL"),
        ({"client": 42}, "client"),
        ({"alias": "default", "client": "x.y"}, "client"),
        ({"serializer": "json"}, "serializer"),
    ],
)
def test_a_bad_option_names_its_key(options, key):
    with pytest.raises(ImproperlyConfigured, match=rf"\[{key!r}\]"):
        RedisStore.from_options(options)


def test_building_the_store_opens_no_connection(settings):
    settings.CACHES = {
        **settings.CACHES,
        "nowhere": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://127.0.0.1:1"},
    }
    store = RedisStore.from_options({"alias": "nowhere"})
    with pytest.raises(RedisStore.connection_errors):
        store.read("abc")


def test_an_alias_that_is_not_django_redis_is_refused_at_first_use(settings):
    settings.CACHES = {
        **settings.CACHES,
        "local": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }
    store = RedisStore.from_options({"alias": "local"})
    with pytest.raises(ImproperlyConfigured, match=r"\['alias'\].*django-redis"):
        store.get("abc")
    with pytest.raises(ImproperlyConfigured, match=r"\['alias'\].*no CACHES entry"):
        RedisStore.from_options({"alias": "missing"}).get("abc")


def test_reads_go_to_the_primary_of_the_alias(redis_server, redis_client, settings):
    # LOCATION lists the primary first, then replicas; django-redis reads replicas.
    settings.CACHES = {
        **settings.CACHES,
        CACHE_ALIAS: {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": [redis_url(redis_server), "redis://127.0.0.1:1/0"],
        },
    }
    store = RedisStore.from_options({"alias": CACHE_ALIAS})
    store.set("abc", stored_session({}))
    for _ in range(10):
        assert store.read("abc", touch=True) is not None
        assert store.get("abc") is not None


def test_a_client_object(redis_server, redis_client):
    client = redis.Redis(port=redis_server.port, decode_responses=True, **PROTOCOL)
    store = RedisStore.from_options({"client": client, "prefix": "app:"})
    session = stored_session({"views": 1})
    store.create("abc", session)
    known = store.read("abc", touch=True)
    assert store.replace("abc", {**session, "views": 2}, known.version)
    assert store.all() == {"abc": {**session, "views": 2}}
    assert redis_client.get("app:abc") == dumps({**session, "views": 2}).encode()


CLIENT_PORT = {}


def client_factory() -> redis.Redis:
    return redis.Redis(port=CLIENT_PORT["port"], **PROTOCOL)


def test_a_dotted_path_to_a_client_factory(redis_server, redis_client):
    CLIENT_PORT["port"] = redis_server.port
    store = RedisStore.from_options({"client": "tests.test_store_redis.client_factory"})
    store.set("abc", stored_session({}))
    assert redis_client.exists("sess:abc")
    store.close()


def test_close_closes_only_a_client_the_store_built(redis_server, redis_client):
    CLIENT_PORT["port"] = redis_server.port
    given = redis.Redis(port=redis_server.port, **PROTOCOL)
    store = RedisStore.from_options({"client": given})
    store.set("abc", stored_session({}))
    store.close()
    assert given.ping()  # still usable: the project owns it

    built = RedisStore.from_options({"client": "tests.test_store_redis.client_factory"})
    built.set("abc", stored_session({}))
    first = built.redis
    built.close()
    assert built.get("abc") is not None  # a fresh client from the factory
    assert built.redis is not first


def test_a_dotted_path_to_something_else_is_refused_at_first_use():
    store = RedisStore.from_options({"client": "tests.test_store_redis.HOUR_MS"})
    with pytest.raises(ImproperlyConfigured, match=r"\['client'\]"):
        store.get("abc")


def test_the_expiry_of_a_stored_session_is_the_key_ttl_not_the_inner_expires(store, redis_client):
    # After a touch the inner cookie.expires is stale; the key still lives.
    session = stored_session({"views": 1}, max_age=1000)
    session["cookie"]["expires"] = "2020-01-01T00:00:00.000Z"
    redis_client.set("sess:abc", dumps(session), ex=60)
    assert store.get("abc") == session


# The settings a copy of a client object keeps (the ``client`` option: redis-py has no
# documented way to make an asyncio twin of a client, so its keywords are copied, and
# redis-py's own plumbing is left out by a deny-list).
COPIED_SETTINGS = frozenset(
    {
        "address_remap", "args", "cache", "cache_config", "client_name",
        "cluster_error_retry_attempts", "credential_provider", "db", "decode_responses",
        "driver_info", "dynamic_startup_nodes", "encoding", "encoding_errors",
        "health_check_interval", "host", "kwargs", "legacy_responses", "lib_name",
        "lib_version", "load_balancing_strategy", "max_connections", "metadata_resolver",
        "password", "path", "policy_resolver", "port", "protocol", "read_from_replicas",
        "reinitialize_steps", "require_full_coverage", "socket_connect_timeout",
        "socket_keepalive", "socket_keepalive_options", "socket_read_size", "socket_timeout",
        "socket_type", "ssl", "ssl_ca_certs", "ssl_ca_data", "ssl_ca_path", "ssl_cert_reqs",
        "ssl_certfile", "ssl_check_hostname", "ssl_ciphers", "ssl_exclude_verify_flags",
        "ssl_include_verify_flags", "ssl_keyfile", "ssl_min_version", "ssl_ocsp_context",
        "ssl_ocsp_expected_cert", "ssl_password", "ssl_validate_ocsp",
        "ssl_validate_ocsp_stapled", "startup_nodes", "topology_refresh_min_interval", "url",
        "username",
        # valkey-py's own (client-side caching)
        "cache_allow_list", "cache_deny_list", "cache_enabled", "cache_max_size",
        "cache_policy", "cache_ttl", "client_cache", "connection_error_retry_attempts",
    }
)  # fmt: skip


def test_a_new_client_keyword_is_sorted_before_client_copies_use_it():
    """Fails on a redis-py (or valkey-py) release that adds a keyword to a connection or
    cluster class: say whether it is a user's setting (COPIED_SETTINGS) or the library's
    own plumbing (``clients._INTERNAL_KWARGS``), which a copy must not carry over."""
    from django_express_session.stores.redis.clients import _accepted
    from django_express_session.stores.redis.libraries import installed

    for library in installed():
        connections = library.connections
        targets = [*connections, *connections.values(), library.cluster, library.async_cluster]
        for target in targets:
            unknown = _accepted(target) - COPIED_SETTINGS
            assert not unknown, (
                f"{library.name}'s {target.__qualname__} takes new keywords {unknown}"
            )


def test_the_store_speaks_the_protocol_the_tests_chose(store):
    """scripts/test runs this file under RESP2 too: the switch must reach the store."""
    chosen = PROTOCOL.get("protocol", redis.utils.DEFAULT_RESP_VERSION)
    assert str(store.redis.client_info()["resp"]) == str(chosen)
