"""What the tests of the sessions pages (admin, user page, browser) share: logging a
client in, the session id a client holds, and a store that cannot list its sessions."""

from __future__ import annotations

from django.test import Client

from django_express_session import users
from tests.helpers import express_session
from tests.servers.memcached import CACHE_ALIAS, pymemcache_cache
from tests.test_identity import browser, user_of

__all__ = ["PASSWORD", "logged_in", "ref_of", "sid_of", "unlisting_store", "user_of"]

PASSWORD = "pw"
URLS = "tests.sessions_pages.urls"


def logged_in(name: str, client: Client | None = None) -> Client:
    client = client or browser()
    response = client.get("/login", {"username": name, "password": PASSWORD})
    assert response.status_code == 200, response.content
    return client


def sid_of(client: Client) -> str:
    return client.get("/me").json()["id"]


def ref_of(client: Client) -> str:
    """The ``UserSession.ref`` of the session ``client`` holds."""
    return users.ref_of(sid_of(client))


def unlisting_store(settings, memcached_server) -> None:
    """The cache store on a real memcached with connect-memcached's default prefix
    ``""``: it cannot tell its sessions from the cache's other keys, so it cannot list."""
    settings.CACHES = {**settings.CACHES, CACHE_ALIAS: pymemcache_cache(memcached_server)}
    settings.EXPRESS_SESSION = express_session(
        store={"backend": "cache", "options": {"alias": CACHE_ALIAS}}
    )
