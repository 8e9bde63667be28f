"""memcached for the tests: a real ``memcached`` on a free loopback port (no UDP).

``store_cache_memcached`` points a ``PyMemcacheCache`` alias at it (every item deleted
before the test, through a client of our own: never ``flush_all`` from the store) and
``store_cache_locmem`` uses Django's local-memory cache, which has no compare-and-set.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from pymemcache.client.base import Client

from .process import Server, free_port, require

STORE_VARIANTS = ["cache_memcached", "cache_locmem"]

CACHE_ALIAS = "express_sessions"


def start_memcached() -> Server:
    port = free_port()
    argv = [require("memcached"), "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-m", "64"]
    if os.geteuid() == 0:
        argv += ["-u", "nobody"]  # memcached refuses to run as root without -u
    return Server(argv, port).start()


@pytest.fixture(scope="session")
def memcached_server() -> Iterator[Server]:
    server = start_memcached()
    yield server
    server.stop()


@pytest.fixture
def memcached_client(memcached_server) -> Iterator[Client]:
    """A raw client of the shared server, emptied before the test: to look at items."""
    client = Client(("127.0.0.1", memcached_server.port), default_noreply=False)
    client.flush_all()
    yield client
    client.close()


def pymemcache_cache(server: Server) -> dict:
    return {
        "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
        "LOCATION": f"127.0.0.1:{server.port}",
    }


@pytest.fixture
def store_cache_memcached(settings, memcached_client, memcached_server):
    settings.CACHES = {**settings.CACHES, CACHE_ALIAS: pymemcache_cache(memcached_server)}
    # A prefix, so all/length/clear can tell the sessions from other keys.
    return {"backend": "cache", "options": {"alias": CACHE_ALIAS, "prefix": "sess:"}}


@pytest.fixture
def store_cache_locmem(settings):
    settings.CACHES = {
        **settings.CACHES,
        CACHE_ALIAS: {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            # A LOCATION of its own per test: locmem caches live as long as the process.
            "LOCATION": f"express-sessions-{uuid.uuid4()}",
        },
    }
    return {"backend": "cache", "options": {"alias": CACHE_ALIAS, "prefix": "sess:"}}


@pytest.fixture(scope="session")
def interop_store_memcached(memcached_server):
    """connect-memcached and the cache store on one memcached (the interop harness's
    ``StoreSpec``), both with connect-memcached's default prefix ``""``."""
    from tests.interop.conftest import StoreSpec

    return StoreSpec(
        name="memcached",
        django={"backend": "cache", "options": {"alias": "sessions"}},
        node={"kind": "memcached", "options": {"hosts": f"127.0.0.1:{memcached_server.port}"}},
        caches={
            "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
            "sessions": pymemcache_cache(memcached_server),
        },
    )
