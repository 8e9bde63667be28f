"""Sessions in a Django cache, in connect-memcached's layout.

Each session is one item, key ``prefix + sid`` (``prefix`` defaults to ``""``, as in
connect-memcached), value the express JSON text.

Which caches (``CACHES[alias]["BACKEND"]``):

* ``PyMemcacheCache`` and ``PyLibMCCache``: the store talks to the memcached servers of
  that cache (its ``LOCATION``) through pymemcache clients of its own that write what
  connect-memcached 2+ (node-memcached) writes: the JSON with flags 2 (``FLAG_JSON``),
  so an Express app reads Django's items and the other way round. Reads return the raw
  bytes: whatever an item holds, nothing is ever unpickled. Django's own clients
  pickle (and unpickle whatever they find, so a planted item would run code); their
  failover is not used either: a server that fails would otherwise read as "no
  session" (a logout), or move keys to another server; here a failing server is a
  connection error (503) until it is back. Clients time out after ``MEMCACHED_TIMEOUT``
  seconds (connect and read) unless ``OPTIONS`` sets ``connect_timeout``/``timeout``.
* ``LocMemCache``: through the cache API, for one process (development, tests). Django
  pickles the JSON string there, in this process's memory, which nothing outside the
  process can write. Node cannot share these sessions.
* Any other cache (file-based, database, Redis, dummy...) is refused
  (``ImproperlyConfigured``, and the system check ``E010``): Django pickles values in
  them and unpickles what it reads back, so anyone who can write the cache's files,
  table or keys could run code in Django. Use the file, database or redis store.

Expiry is connect-memcached's: a numeric ``ttl`` (seconds) wins, else the cookie's
remaining lifetime truncated to seconds, else one day. Unlike connect-memcached, a
lifetime over 30 days is sent to memcached as an absolute unix time, which is how
memcached reads such values (connect-memcached sends it raw and the item vanishes).

Safe writes: ``create`` is ``add``. ``replace`` is memcached's ``gets``/``cas``; the
local-memory cache has no compare-and-set and gets a lock around compare-then-write.

``all``/``length``/``clear`` exist only where the store can list its own keys without
touching anyone else's: with a non-empty ``prefix``, on memcached (its LRU crawler's
key dump) and on the local-memory cache. Elsewhere they raise ``CacheCannotEnumerate``.
``sessions_of`` (a user's sessions) scans ``all()`` on the local-memory cache and is
refused on memcached (see the method).
This store never flushes a cache (connect-memcached's ``clear`` is ``flush_all``).
"""

from __future__ import annotations

import contextlib
import inspect
import math
import re
import threading
import time
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from django.conf import settings
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from ..compat import locmem_keys
from ..exceptions import CorruptRecord, CreateError
from ..owner import Owner
from ..record import Record, dumps, expires_ms, loads, now_ms
from ..validation import (
    StoreOptions,
    check_str,
    choice,
    number,
    option,
    option_error,
    string,
)
from ._hashring import NodeMemcachedRing
from .base import Store, Versioned
from .resources import Lazy

ONE_DAY = 86400
#: memcached reads an expiration time over 30 days as an absolute unix time.
MEMCACHED_RELATIVE_LIMIT = 30 * ONE_DAY
#: node-memcached's flag for values it JSON-encoded (and decodes on read).
FLAG_JSON = 2
#: Seconds the memcached clients wait to connect and for a reply, unless the cache's
#: OPTIONS say otherwise: a frozen server then costs a request half a second (a 503),
#: not pymemcache's default of waiting forever.
MEMCACHED_TIMEOUT = 0.5
MEMCACHED_BACKENDS = (
    "django.core.cache.backends.memcached.PyMemcacheCache",
    "django.core.cache.backends.memcached.PyLibMCCache",
)
LOCMEM_BACKEND = "django.core.cache.backends.locmem.LocMemCache"
#: memcached parses an expiration time as a signed 32-bit number (an absolute time up to
#: January 2038); a later one is refused or misread, so it is capped.
MEMCACHED_LATEST_EXPTIME = 2**31 - 1


def _connection_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [OSError]  # sockets: refused, reset, timeouts
    try:
        from pymemcache.exceptions import MemcacheUnexpectedCloseError

        errors.append(MemcacheUnexpectedCloseError)
    except ImportError:
        pass
    try:
        import redis.exceptions

        errors += [redis.exceptions.ConnectionError, redis.exceptions.TimeoutError]
    except ImportError:
        pass
    return tuple(errors)


def cache_kind(alias: str) -> str:
    """``"memcached"``, ``"locmem"`` or ``"refused"`` (see the module docstring), from the
    ``BACKEND`` setting: the store never builds a Django client for memcached."""
    backend = settings.CACHES[alias].get("BACKEND", "")
    try:
        backend_class = import_string(backend)
    except ImportError:
        return "refused"
    from django.core.cache.backends.locmem import LocMemCache
    from django.core.cache.backends.memcached import PyLibMCCache, PyMemcacheCache

    if isinstance(backend_class, type) and issubclass(
        backend_class, (PyMemcacheCache, PyLibMCCache)
    ):
        return "memcached"
    if isinstance(backend_class, type) and issubclass(backend_class, LocMemCache):
        return "locmem"
    return "refused"


def refusal(alias: str) -> str:
    return (
        f"EXPRESS_SESSION['store'] (cache store): CACHES[{alias!r}] is "
        f"{settings.CACHES[alias].get('BACKEND')!r}. Django pickles what it stores in such "
        f"a cache and unpickles what it reads back, so whoever can write to that cache "
        f"could run code here. Use a memcached cache (PyMemcacheCache or PyLibMCCache), "
        f"whose items this store writes as JSON, or LocMemCache for one process; or the "
        f"file, database or redis store."
    )


def memcached_servers(location: Any) -> list[str]:
    """The servers of a memcached ``LOCATION``: a list, or a string split on ``;`` and
    ``,``, as Django reads it."""
    if isinstance(location, str):
        return [server for server in re.split("[;,]", location) if server]
    return list(location or [])


class CacheCannotEnumerate(NotImplementedError):
    """The cache cannot list this store's sessions without touching other keys."""


def _cache_alias(store: str, key: str, value: Any) -> str:
    alias = check_str(store, key, value)
    if alias not in settings.CACHES:
        raise option_error(store, key, f"names no CACHES entry ({sorted(settings.CACHES)})")
    return alias


RENDEZVOUS = "rendezvous"
NODE_MEMCACHED = "node-memcached"
PLACEMENTS = (RENDEZVOUS, NODE_MEMCACHED)


@dataclass(frozen=True, slots=True)
class CacheOptions(StoreOptions):
    """connect-memcached's ``prefix`` and ``ttl`` (seconds), and the Django cache."""

    store: ClassVar[str] = "cache"

    alias: str = option("alias", _cache_alias, default="default")
    prefix: str = option("prefix", string(allow_empty=True), default="")
    ttl: float | None = option("ttl", number(minimum=1, allow_none=True), default=None)
    #: Which server of a pool holds a session: pymemcache's rendezvous hashing (as
    #: Django's ``PyMemcacheCache`` and earlier releases place keys), or node-memcached's
    #: ketama ring, needed to share a pool of several servers with connect-memcached.
    #: Changing it moves most sessions of a pool to another server once.
    placement: str = option("placement", choice(*PLACEMENTS), default=RENDEZVOUS)


class CacheStore(Store):
    """Sessions in ``CACHES[alias]``."""

    name = "cache"
    connection_errors = _connection_errors()

    Options = CacheOptions
    options: CacheOptions

    def _setup(self) -> None:
        options = self.options
        self.alias = alias = options.alias
        self.kind = cache_kind(alias)
        if self.kind == "refused":
            raise ImproperlyConfigured(refusal(alias))
        # How this cache holds items, chosen at first use (no connection before).
        self._items: Lazy[_Items] = Lazy(self._open_items, lambda items: items.close())

    @property
    def items(self) -> _Items:
        return self._items.get()

    def _open_items(self) -> _Items:
        if self.kind == "memcached":
            return _MemcachedItems(settings.CACHES[self.alias], self.options.placement)
        return _CacheItems(self.alias)

    def close(self) -> None:
        self._items.reset()

    def _key(self, sid: str) -> str:
        return self.options.prefix + sid

    def item_seconds(self, session: Record) -> int:
        """connect-memcached: ``ttl`` wins, else ``(cookie.maxAge / 1000) | 0`` (the
        remaining lifetime, truncated), else one day. Zero or less: already expired."""
        if self.options.ttl is not None:
            return int(self.options.ttl)
        expires = expires_ms(session)
        if expires is None:
            return ONE_DAY
        cap = self.cap_of(session)
        if cap is not None and abs(expires - cap) <= 1:
            # Held at the absolute cap: rounded up, never down (Django ends the session
            # at the cap itself; truncating would end it a second early).
            return math.ceil((expires - now_ms()) / 1000)
        return int((expires - now_ms()) / 1000)

    # -- express's store methods ----------------------------------------------------------

    def destroy(self, sid: str) -> None:
        self.items.delete(self._key(sid))

    def touch(self, sid: str, session: Record) -> None:
        """A new expiry for the item, never a new item (connect-memcached re-``set``s
        the whole value, which can bring back a session destroyed meanwhile)."""
        if self._expiry_in_value:
            self._rewrite_cookie(sid, session)
            return
        self.items.touch(self._key(sid), self.item_seconds(session))

    # -- touchAfter: the item's own cookie says when it expires ---------------------------
    #
    # A cache gives no item's expiry back (memcached's TTL is not readable through
    # pymemcache's commands), so under touchAfter a touch rewrites the item's cookie with
    # a compare-and-set (never over a concurrent change, never bringing back a destroyed
    # session), as connect-memcached's touch rewrites the whole item: the stored
    # ``cookie.expires`` is then the item's expiry, which a read reports. With a numeric
    # ``ttl`` (which wins over the cookie) or a browser-session cookie (one day) the
    # expiry is not in the item, and every request touches.

    @property
    def _expiry_in_value(self) -> bool:
        return bool(self.lifetime.touch_after_ms) and self.options.ttl is None

    def _rewrite_cookie(self, sid: str, session: Record) -> None:
        key = self._key(sid)
        found = self.items.gets(key)
        if found is None:
            return
        text, token = found
        stored = loads(text)
        stored["cookie"] = session["cookie"]
        self.items.cas(key, dumps(stored), self.item_seconds(session), token)

    def fresh_expiry(self, session: Record) -> int | None:
        return expires_ms(session) if self._expiry_in_value else None

    #: The policy document is published again at each start; a year keeps it through
    #: a long-running process (memcached may still evict it: it is a cache).
    policy_lifetime = 365 * ONE_DAY

    def read_policy(self, side: str) -> str | None:
        value = self.items.get(self.policy_key(self.options.prefix, side))
        return value.decode("utf-8") if isinstance(value, bytes) else value

    def publish_policy(self, side: str, document: str) -> None:
        self.items.set(self.policy_key(self.options.prefix, side), document, self.policy_lifetime)

    def all(self) -> dict[str, Record]:
        found = {}
        for sid in self._sids():
            session = self.get(sid)
            if session is not None:
                found[sid] = session
        return found

    def sessions_of(self, owner: Owner, *, thorough: bool = False) -> dict[str, Record]:
        """On the local-memory cache, a scan of ``all()``. On memcached, refused: it
        keeps no index of its own, and the key dump ``all()`` relies on walks every item
        of every server on each call (and, before memcached 1.6.10, can miss one), too
        slow for a page and too unsure for "log out everywhere"."""
        if self.kind == "memcached":
            raise CacheCannotEnumerate(
                "the cache store cannot find a user's sessions on memcached: memcached "
                "has no index to look them up, and dumping every key of every server on "
                "each call costs the whole cache"
            )
        return super().sessions_of(owner, thorough=thorough)

    def length(self) -> int:
        return len(self.all())

    def clear(self) -> None:
        for sid in self._sids():
            self.destroy(sid)

    def _sids(self) -> list[str]:
        if not self.options.prefix:
            raise CacheCannotEnumerate(
                f"the cache store cannot tell its sessions from other keys of CACHES"
                f"[{self.alias!r}] without a 'prefix' option"
            )
        return [key[len(self.options.prefix) :] for key in self.items.keys(self.options.prefix)]

    # -- safe writes ----------------------------------------------------------------------

    def read(self, sid: str, *, touch: bool = False) -> Versioned | None:
        found = self.items.gets(self._key(sid))
        if found is None:
            return None
        text, token = found
        session = loads(text)
        expires_at = expires_ms(session) if self._expiry_in_value else None
        return Versioned(session, version=token, expires_at=expires_at)

    def create(self, sid: str, session: Record) -> None:
        if not self.items.add(self._key(sid), dumps(session), self.item_seconds(session)):
            raise CreateError(sid)

    def replace(self, sid: str, session: Record, version: Any) -> bool:
        if version is None:
            return False
        return self.items.cas(self._key(sid), dumps(session), self.item_seconds(session), version)


# -- how items are kept -----------------------------------------------------------------


class _Items:
    """One cache's primitive operations on items holding JSON text. ``gets`` returns the
    text and a token ``cas`` checks; ``lifetime`` is in seconds, 0 or less = expired."""

    def get(self, key: str) -> str | bytes | None:
        raise NotImplementedError

    def gets(self, key: str) -> tuple[str | bytes, Any] | None:
        raise NotImplementedError

    def set(self, key: str, text: str, lifetime: int) -> None:
        raise NotImplementedError

    def add(self, key: str, text: str, lifetime: int) -> bool:
        raise NotImplementedError

    def cas(self, key: str, text: str, lifetime: int, token: Any) -> bool:
        raise NotImplementedError

    def touch(self, key: str, lifetime: int) -> None:
        raise NotImplementedError

    def delete(self, key: str) -> None:
        raise NotImplementedError

    def keys(self, prefix: str) -> Iterator[str]:
        raise CacheCannotEnumerate(
            "this cache backend cannot list keys by prefix; all(), length() and clear() "
            "are not available (and the store never flushes a cache)"
        )

    def close(self) -> None:
        pass


class _JSONItemSerde:
    """pymemcache serde writing node-memcached's JSON items: the bytes as given, with
    flags 2; reads return the raw bytes (flags 2 JSON or connect-memcached 1's flag-0
    JSON string alike)."""

    def serialize(self, key: Any, value: bytes) -> tuple[bytes, int]:
        return value, FLAG_JSON

    def deserialize(self, key: Any, value: bytes, flags: int) -> bytes:
        return value


def _exptime(lifetime: int) -> int:
    if lifetime <= 0:
        return -1  # already expired (0 would mean "never expires")
    if lifetime > MEMCACHED_RELATIVE_LIMIT:
        return min(int(time.time()) + lifetime, MEMCACHED_LATEST_EXPTIME)
    return lifetime


class _MemcachedItems(_Items):
    """The memcached servers of a ``PyMemcacheCache``, through pooled clients that
    write connect-memcached's items and surface every failure."""

    def __init__(self, cache_settings: Mapping[str, Any], placement: str) -> None:
        from pymemcache.client.base import PooledClient
        from pymemcache.client.rendezvous import RendezvousHash

        accepted = inspect.signature(PooledClient.__init__).parameters
        given = cache_settings.get("OPTIONS") or {}
        # Django's defaults for PyMemcacheCache, then the cache's OPTIONS (those a pooled
        # client takes: PyLibMCCache's behaviors do not apply), then what this store needs.
        options = {
            "allow_unicode_keys": True,
            "connect_timeout": MEMCACHED_TIMEOUT,
            "timeout": MEMCACHED_TIMEOUT,
        }
        options |= {key: value for key, value in given.items() if key in accepted}
        for key in ("connect_timeout", "timeout"):
            if options[key] is None:  # pymemcache: wait forever; never for sessions
                options[key] = MEMCACHED_TIMEOUT
        options |= {"serde": _JSONItemSerde(), "default_noreply": False}
        servers = memcached_servers(cache_settings.get("LOCATION"))
        self.clients = {server: PooledClient(server, **options) for server in servers}
        ring = NodeMemcachedRing if placement == NODE_MEMCACHED else RendezvousHash
        self.ring = ring(list(self.clients))

    def client(self, key: str) -> Any:
        return self.clients[self.ring.get_node(key)]

    def get(self, key):
        return self.client(key).get(key)

    def gets(self, key):
        text, token = self.client(key).gets(key)
        return None if text is None else (text, token)

    def set(self, key, text, lifetime):
        self.client(key).set(key, text.encode(), expire=_exptime(lifetime))

    def add(self, key, text, lifetime):
        return bool(self.client(key).add(key, text.encode(), expire=_exptime(lifetime)))

    def cas(self, key, text, lifetime, token):
        # True: written; False: changed since gets; None: gone.
        return self.client(key).cas(key, text.encode(), token, expire=_exptime(lifetime)) is True

    def touch(self, key, lifetime):
        self.client(key).touch(key, expire=_exptime(lifetime))

    def delete(self, key):
        self.client(key).delete(key)

    def keys(self, prefix):
        """Every server's keys that start with ``prefix``, from memcached's LRU crawler
        (``lru_crawler metadump all``, memcached 1.4.31+), which lists keys without
        reading or changing any item."""
        for server in self.clients:
            yield from (key for key in _metadump(server) if key.startswith(prefix))

    def close(self):
        for client in self.clients.values():
            client.close()


def _metadump(server: str, attempts: int = 20) -> list[str]:
    """Every key of one server. ``metadump hash`` (memcached 1.6.10+) walks the hash
    table and sees every item; ``metadump all`` walks the LRUs and, measured here, misses
    an item written a moment before about once in fifty calls, so it is only the
    fallback for older servers."""
    try:
        return _crawl(server, b"hash", attempts)
    except CacheCannotEnumerate:
        return _crawl(server, b"all", attempts)


def _crawl(server: str, mode: bytes, attempts: int) -> list[str]:
    import socket
    from urllib.parse import unquote

    from pymemcache.client.base import normalize_server_spec

    address = normalize_server_spec(server)
    for _ in range(attempts):
        family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
        if family == socket.AF_INET and ":" in address[0]:
            family = socket.AF_INET6
        with socket.socket(family, socket.SOCK_STREAM) as conn:
            conn.settimeout(30)
            conn.connect(address)
            conn.sendall(b"lru_crawler metadump " + mode + b"\r\n")
            reply = b""
            while not reply.endswith(b"\r\n") or not (
                reply.endswith(b"END\r\n") or reply.startswith((b"BUSY", b"ERROR", b"CLIENT_ERROR"))
            ):
                chunk = conn.recv(1 << 16)
                if not chunk:
                    break
                reply += chunk
        if reply.startswith(b"BUSY"):  # another crawl is running: wait for it
            time.sleep(0.05)
            continue
        if not reply.endswith(b"END\r\n"):
            raise CacheCannotEnumerate(
                f"memcached {server} cannot list its keys (lru_crawler metadump): "
                f"{reply[:80].decode(errors='replace').strip()}"
            )
        return [
            unquote(line.split(b" ", 1)[0][4:].decode())
            for line in reply.splitlines()
            if line.startswith(b"key=")
        ]
    raise CacheCannotEnumerate(f"memcached {server}: the LRU crawler stayed busy")


class _CacheItems(_Items):
    """A ``LocMemCache``, through its API, holding the JSON string."""

    # Caches have no compare-and-set in their API. The compare and the write happen under
    # a lock: a thread lock within the process, and an ``add``-made lock item (atomic on
    # memcached, Redis, the database and local-memory caches) across processes.
    LOCK_SUFFIX = ":lock"
    LOCK_SECONDS = 5
    LOCK_WAIT = 1.0

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self._thread_locks = [threading.Lock() for _ in range(64)]

    @property
    def cache(self) -> Any:
        return caches[self.alias]  # per thread, as Django hands them out

    @staticmethod
    def _timeout(lifetime: int) -> int:
        return max(lifetime, -1)  # Django: 0 or less expires at once (None = never)

    def get(self, key):
        text = self.cache.get(key)
        if text is not None and not isinstance(text, str):
            # No key in the text: the session layer logs it, naming the session by a hint.
            raise CorruptRecord(f"the cache item is a {type(text).__name__}, not JSON text")
        return text

    def gets(self, key):
        text = self.get(key)
        return None if text is None else (text, text)

    def set(self, key, text, lifetime):
        self.cache.set(key, text, self._timeout(lifetime))

    def add(self, key, text, lifetime):
        return self.cache.add(key, text, self._timeout(lifetime))

    def cas(self, key, text, lifetime, token):
        with self._locked(key):
            if self.get(key) != token:
                return False
            self.set(key, text, lifetime)
            return True

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        cache = self.cache
        lock_key = key + self.LOCK_SUFFIX
        with self._thread_locks[zlib.crc32(key.encode()) % len(self._thread_locks)]:
            deadline = time.monotonic() + self.LOCK_WAIT
            # A holder that died leaves the lock item to expire after LOCK_SECONDS.
            acquired = cache.add(lock_key, 1, self.LOCK_SECONDS)
            while not acquired and time.monotonic() < deadline:
                time.sleep(0.002)
                acquired = cache.add(lock_key, 1, self.LOCK_SECONDS)
            # Past the wait another process is slow: go on (that write stays best effort).
            try:
                yield
            finally:
                if acquired:
                    cache.delete(lock_key)

    def touch(self, key, lifetime):
        self.cache.touch(key, self._timeout(lifetime))

    def delete(self, key):
        self.cache.delete(key)

    def keys(self, prefix):
        from django.core.cache.backends.locmem import LocMemCache

        cache = self.cache
        if not isinstance(cache, LocMemCache):
            return super().keys(prefix)
        # The cache's own key for the prefix tells how it builds keys (KEY_PREFIX,
        # VERSION, KEY_FUNCTION); keys of other shapes are not ours.
        marker = "\x00sid"
        probe = cache.make_key(prefix + marker)
        if not probe.endswith(prefix + marker):
            return super().keys(prefix)
        head = probe[: -len(marker)]
        made = [key for key in locmem_keys(cache) if key.startswith(head)]
        return iter(key[len(head) - len(prefix) :] for key in made)
