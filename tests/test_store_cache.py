"""The ``cache`` store: connect-memcached's items in a real memcached (through
``PyMemcacheCache``) and sessions in Django's local-memory cache."""

from __future__ import annotations

import socket
import time

import pytest
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured

from django_express_session.exceptions import CorruptRecord
from django_express_session.record import dumps
from django_express_session.stores.cache import CacheCannotEnumerate, CacheStore
from tests.helpers import idle_expiry_in_real_time, stored_session
from tests.node import store_call
from tests.servers.memcached import CACHE_ALIAS, pymemcache_cache, start_memcached

VARIANTS = ["cache_memcached", "cache_locmem"]


def record(data=None, *, max_age_ms: int | None = 3_600_000) -> dict:
    return stored_session(data or {}, max_age_ms)


@pytest.fixture(params=VARIANTS)
def options(request) -> dict:
    return request.getfixturevalue(f"store_{request.param}")["options"]


@pytest.fixture
def store(options):
    store = CacheStore.from_options(options)
    yield store
    store.close()


@pytest.fixture
def store_settings(options):
    """``express`` on this variant only."""
    return {"backend": "cache", "options": options}


@pytest.mark.django_db
def test_the_caches_ttl_ends_an_idle_session_and_activity_keeps_it(client, express, settings):
    # 2.1 s: connect-memcached's whole seconds make it a 2 s item, which memcached's
    # coarse clock may end after 1 s; a request every 0.5 s keeps inside that.
    express(rolling=True, cookie={"maxAge": 2100})
    settings.ROOT_URLCONF = "tests.lifetime_urls"
    idle_expiry_in_real_time(client, 2100)


def meta_get(port: int, key: str) -> tuple[int, int, bytes] | None:
    """memcached's own view of an item: (remaining ttl, flags, value), with the meta
    protocol (``mg``), which reads without changing anything."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(f"mg {key} t f v\r\n".encode())
        data = b""
        while not (data.endswith(b"\r\n") and (data.startswith(b"EN") or data.count(b"\r\n") >= 2)):
            data += conn.recv(65536)
    if data.startswith(b"EN"):
        return None
    header, value = data.split(b"\r\n", 1)
    fields = {part[:1]: part[1:] for part in header.split()[2:]}
    return int(fields[b"t"]), int(fields[b"f"]), value[:-2]


def absolute_expiry(port: int, key: str) -> int | None:
    """The Unix time memcached will drop ``key`` at, as the client sent it: the LRU
    crawler's metadump reports it exactly, where ``mg``'s remaining TTL runs on
    memcached's own coarse clock, which lags under load."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"lru_crawler metadump all\r\n")
        data = b""
        while not data.endswith(b"END\r\n"):
            data += conn.recv(65536)
    for line in data.decode().splitlines():
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        if fields.get("key") == key:
            return int(fields["exp"])
    return None


# -- express's API ----------------------------------------------------------------------


def test_an_expired_cookie_is_not_kept(store):
    store.set("sid-1", record(max_age_ms=-5_000))
    assert store.get("sid-1") is None


def test_prune_has_nothing_to_do(store):
    assert store.prune() is None


# -- memcached: connect-memcached's items ---------------------------------------------------


def test_memcached_item_is_json_with_flags_2(store_cache_memcached, memcached_server):
    store = CacheStore.from_options({**store_cache_memcached["options"], "prefix": ""})
    session = record({"views": 1}, max_age_ms=3_600_000)
    store.set("sid-1", session)
    ttl, flags, value = meta_get(memcached_server.port, "sid-1")  # prefix "" by default
    assert flags == 2
    assert value == dumps(session).encode()
    assert 3598 <= ttl <= 3600


def test_memcached_ttl_option_wins_and_default_is_one_day(store_cache_memcached, memcached_server):
    options = {**store_cache_memcached["options"], "prefix": ""}
    CacheStore.from_options({**options, "ttl": 120}).set("a", record(max_age_ms=3_600_000))
    CacheStore.from_options(options).set("b", record(max_age_ms=None))
    assert 118 <= meta_get(memcached_server.port, "a")[0] <= 120
    assert 86398 <= meta_get(memcached_server.port, "b")[0] <= 86400


def test_memcached_lifetime_over_30_days_is_kept(store_cache_memcached, memcached_server):
    """connect-memcached sends 31 days raw and the item is gone at once (memcached reads a TTL over 30 days as a Unix time)."""
    store = CacheStore.from_options({**store_cache_memcached["options"], "prefix": ""})
    forty_days = 40 * 86400
    before = time.time()
    store.set("sid-1", record({"v": 1}, max_age_ms=forty_days * 1000))
    after = time.time()
    assert store.get("sid-1")["v"] == 1
    # Over 30 days memcached takes an absolute Unix time: the one sent must be 40 days on.
    expiry = absolute_expiry(memcached_server.port, "sid-1")
    assert int(before) + forty_days - 1 <= expiry <= int(after) + forty_days + 1


def test_memcached_touch_moves_the_ttl(store_cache_memcached, memcached_server):
    store = CacheStore.from_options({**store_cache_memcached["options"], "prefix": ""})
    store.set("sid-1", record(max_age_ms=60_000))
    store.touch("sid-1", record(max_age_ms=7_200_000))
    assert 7198 <= meta_get(memcached_server.port, "sid-1")[0] <= 7200


def test_memcached_all_length_clear_touch_only_this_stores_keys(
    store_cache_memcached, memcached_client
):
    memcached_client.set("someone-else", b"keep me")
    memcached_client.set("sess-but-not-ours", b"keep me too")
    store = CacheStore.from_options(store_cache_memcached["options"])  # prefix "sess:"
    store.set("a", record({"n": 1}))
    store.set("b", record({"n": 2}))
    assert store.length() == 2
    assert {sid: session["n"] for sid, session in store.all().items()} == {"a": 1, "b": 2}
    store.clear()
    assert store.length() == 0
    assert memcached_client.get("someone-else") == b"keep me"
    assert memcached_client.get("sess-but-not-ours") == b"keep me too"


def test_memcached_without_prefix_cannot_enumerate_and_flushes_nothing(
    store_cache_memcached, memcached_client
):
    memcached_client.set("someone-else", b"keep me")
    store = CacheStore.from_options({**store_cache_memcached["options"], "prefix": ""})
    store.set("sid-1", record())
    for method in (store.all, store.length, store.clear):
        with pytest.raises(CacheCannotEnumerate, match="prefix"):
            method()
    assert memcached_client.get("someone-else") == b"keep me"
    assert store.get("sid-1") is not None


def test_memcached_unreachable_is_a_connection_error(settings):
    server = start_memcached()
    settings.CACHES = {**settings.CACHES, "down": pymemcache_cache(server)}
    store = CacheStore.from_options({"alias": "down"})
    store.set("sid-1", record({"v": 1}))
    server.stop()
    with pytest.raises(store.connection_errors):
        store.read("sid-1")
    store.close()


def test_memcached_foreign_value_is_corrupt(store_cache_memcached, memcached_client):
    memcached_client.set("sid-1", b"MIICOgSB4Ed0dG40dnJobnJVYldF")  # kruptein-encrypted
    store = CacheStore.from_options({**store_cache_memcached["options"], "prefix": ""})
    with pytest.raises(CorruptRecord):
        store.read("sid-1")
    assert store.get("sid-1") is None  # what a session sees: no session


# -- local memory: enumeration with a prefix -------------------------------------------------


def test_locmem_all_length_clear_touch_only_this_stores_keys(store_cache_locmem):
    options = store_cache_locmem["options"]
    cache = caches[CACHE_ALIAS]
    cache.set("sess:not-a-session-of-ours-but-same-prefix-in-another-key-space", 1, version=2)
    cache.set("other", "keep me")
    store = CacheStore.from_options(options)
    store.set("a", record({"n": 1}))
    store.set("b", record({"n": 2}))
    assert store.length() == 2
    assert {sid: session["n"] for sid, session in store.all().items()} == {"a": 1, "b": 2}
    store.clear()
    assert store.length() == 0
    assert cache.get("other") == "keep me"


def test_locmem_without_prefix_cannot_enumerate(store_cache_locmem):
    store = CacheStore.from_options({**store_cache_locmem["options"], "prefix": ""})
    with pytest.raises(CacheCannotEnumerate, match="prefix"):
        store.length()


def test_locmem_holds_the_json_text_not_a_pickled_dict(store_cache_locmem):
    store = CacheStore.from_options(store_cache_locmem["options"])
    session = record({"v": 1})
    store.set("sid-1", session)
    assert caches[CACHE_ALIAS].get("sess:sid-1") == dumps(session)


# -- options --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key,value", [("alias", "nowhere"), ("prefix", 3), ("ttl", "1d"), ("ttl", 0)]
)
def test_bad_options_name_the_key(key, value):
    with pytest.raises(ImproperlyConfigured, match=key):
        CacheStore.from_options({key: value})


# -- byte-level interop with connect-memcached 3 -------------------------------------------


def node_options(memcached_server, **options) -> dict:
    return {"hosts": f"127.0.0.1:{memcached_server.port}", **options}


@pytest.mark.interop
def test_same_session_same_item_as_connect_memcached(store_cache_memcached, memcached_server):
    store = CacheStore.from_options({**store_cache_memcached["options"], "prefix": "sess:"})
    session = record({"views": 1, "passport": {"user": "ann"}}, max_age_ms=3_600_000)
    store.set("django-side", session)
    store_call(
        "memcached",
        node_options(memcached_server, prefix="sess:"),
        {"op": "set", "sid": "node-side", "session": session},
    )
    django_item = meta_get(memcached_server.port, "sess:django-side")
    node_item = meta_get(memcached_server.port, "sess:node-side")
    assert django_item[1:] == node_item[1:]  # flags and bytes
    assert abs(django_item[0] - node_item[0]) <= 2  # the same ttl, give or take the clock


@pytest.mark.interop
def test_each_side_reads_the_others_sessions(store_cache_memcached, memcached_server):
    store = CacheStore.from_options({**store_cache_memcached["options"], "prefix": ""})
    from_django = record({"who": "django"})
    from_node = record({"who": "node"})
    store.set("django-side", from_django)
    results = store_call(
        "memcached",
        node_options(memcached_server),
        {"op": "get", "sid": "django-side"},
        {"op": "set", "sid": "node-side", "session": from_node},
    )
    assert results[0] == from_django
    assert store.get("node-side") == from_node
    # A Django logout is a logout on Node too.
    store.destroy("node-side")
    assert store_call(
        "memcached", node_options(memcached_server), {"op": "get", "sid": "node-side"}
    ) == [None]


@pytest.mark.interop
def test_node_reads_a_session_django_keeps_over_30_days(store_cache_memcached, memcached_server):
    store = CacheStore.from_options({**store_cache_memcached["options"], "prefix": ""})
    session = record({"v": 1}, max_age_ms=45 * 86400 * 1000)
    store.set("long", session)  # sent raw, memcached would read 1970 and drop it
    assert store_call(
        "memcached", node_options(memcached_server), {"op": "get", "sid": "long"}
    ) == [session]
