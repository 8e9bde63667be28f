"""Sessions in Redis, in connect-redis's layout (v4 and later).

Each session is a Redis string ``prefix + sid`` holding the session's JSON, with a key
TTL of ``ceil((cookie.expires - now) / 1000)`` seconds, or the ``ttl`` option when the
cookie has no expiry; a TTL of zero or less deletes the key. connect-redis's ``touch``
only moves the TTL and leaves the stored ``cookie.expires`` stale; so does this store.
Redis expires keys itself, so there is nothing to prune.

Round trips: ``read(touch=True)`` reads and refreshes the TTL in one Lua script, a
compare-and-set ``replace`` is one script, ``create`` is one ``SET NX``. Everything goes
to the primary (django-redis ``write=True``): a lagging replica must not log anyone out.
The bulk methods use ``SCAN`` (never ``KEYS``), on every primary of a cluster.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

try:
    import redis
    from redis.cluster import RedisCluster
    from redis.commands.core import Script
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise ImproperlyConfigured(
        "the redis store needs redis-py and django-redis: "
        "pip install 'django-express-session[redis]'"
    ) from error

from ..exceptions import CreateError
from ..record import Record, dumps, loads
from .base import Store, Versioned, check_bool, check_number, check_str, option_error

Client = redis.Redis | RedisCluster

# GET and refresh the TTL in one round trip, as express's end-of-request touch would:
# it resets cookie.expires to now + originalMaxAge, so the TTL is ceil(originalMaxAge/1000)
# seconds, or the fallback (ARGV[1]) for a browser-session cookie. Like connect-redis's
# touch, the stored value is left as it is, and a TTL <= 0 makes EXPIRE delete the key.
READ_AND_TOUCH = b"""
local value = redis.call('GET', KEYS[1])
if not value then return false end
local ttl = tonumber(ARGV[1])
local ok, session = pcall(cjson.decode, value)
if ok and type(session) == 'table' and type(session.cookie) == 'table'
    and type(session.cookie.originalMaxAge) == 'number' then
  ttl = math.ceil(session.cookie.originalMaxAge / 1000)
end
redis.call('EXPIRE', KEYS[1], string.format('%.0f', ttl))
return value
"""

# Compare-and-set: write ARGV[2] only if the key still holds ARGV[1] (what was read).
# ARGV[3] is the TTL in seconds, "none" to store without expiry (disableTTL), or <= 0 to
# delete, as connect-redis's set does for an expired cookie. A missing key is never
# recreated: the session was destroyed meanwhile.
REPLACE = b"""
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[3] == 'none' then
  redis.call('SET', KEYS[1], ARGV[2])
elseif tonumber(ARGV[3]) > 0 then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
else
  redis.call('DEL', KEYS[1])
end
return 1
"""

_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisStore(Store):
    """connect-redis's store: options ``alias`` (a django-redis ``CACHES`` entry) or
    ``client`` (a redis-py client, or a dotted path to one or to a factory), ``prefix``,
    ``ttl``, ``disableTouch``, ``disableTTL`` and ``scanCount``."""

    name = "redis"
    connection_errors: ClassVar[tuple[type[BaseException], ...]] = (
        redis.exceptions.ConnectionError,  # includes BusyLoadingError (a restart loading data)
        redis.exceptions.TimeoutError,
        redis.exceptions.ReadOnlyError,  # a former primary, during a failover
        redis.exceptions.ClusterDownError,
        redis.exceptions.SlotNotCoveredError,
    )

    def __init__(
        self,
        *,
        alias: str | None = None,
        client: Client | str | None = None,
        prefix: str = "sess:",
        ttl: int | Callable[[Record], int] | str = 86400,
        disableTouch: bool = False,  # connect-redis option names
        disableTTL: bool = False,
        scanCount: int = 100,
    ) -> None:
        if alias is not None and client is not None:
            raise option_error(
                self.name, "client", "and 'alias' are exclusive: give one way to reach Redis"
            )
        if client is not None and not isinstance(client, (str, redis.Redis, RedisCluster)):
            raise option_error(
                self.name,
                "client",
                "must be a redis.Redis or redis.cluster.RedisCluster object, or the dotted "
                f"path of one or of a function returning one, not {client!r}",
            )
        self.alias = check_str(self.name, "alias", "default" if alias is None else alias)
        self._client_option = client
        self.prefix = check_str(self.name, "prefix", prefix, allow_empty=True)
        self.ttl = self._check_ttl(ttl)
        self.disable_touch = check_bool(self.name, "disableTouch", disableTouch)
        self.disable_ttl = check_bool(self.name, "disableTTL", disableTTL)
        self.scan_count = self._check_int("scanCount", scanCount)
        self._client: Client | None = None
        self._owns_client = False  # built by a factory of the ``client`` option
        self._client_lock = threading.Lock()
        self._read_and_touch = Script(None, READ_AND_TOUCH)
        self._replace = Script(None, REPLACE)

    def _check_int(self, key: str, value: Any) -> int:
        check_number(self.name, key, value, minimum=1)
        if not isinstance(value, int):
            raise option_error(self.name, key, f"must be a whole number, not {value!r}")
        return value

    def _check_ttl(self, ttl: Any) -> int | Callable[[Record], int]:
        if isinstance(ttl, str):
            try:
                ttl = import_string(ttl)
            except ImportError as error:
                raise option_error(self.name, "ttl", f"cannot be imported: {error}") from None
        if callable(ttl):
            return ttl
        return self._check_int("ttl", ttl)

    # -- the connection -------------------------------------------------------------------

    @property
    def redis(self) -> Client:
        """The client every command goes through: always the primary."""
        if self._client_option is None:
            return self._alias_client()
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = self._resolve_client(self._client_option)
        return self._client

    def _alias_client(self) -> redis.Redis:
        # Asked for at each use, not kept: django-redis caches the client per thread and
        # the pool per process, and tests may point the alias elsewhere.
        from django.core.cache import InvalidCacheBackendError, caches
        from django_redis import get_redis_connection
        from django_redis.cache import RedisCache

        try:
            cache = caches[self.alias]
        except InvalidCacheBackendError:
            raise option_error(
                self.name, "alias", f"names no CACHES entry: {self.alias!r}"
            ) from None
        if not isinstance(cache, RedisCache):
            raise option_error(
                self.name,
                "alias",
                f"must name a django-redis cache (BACKEND 'django_redis.cache.RedisCache'); "
                f"CACHES[{self.alias!r}] is a {type(cache).__module__}.{type(cache).__name__}. "
                "For another setup, pass a redis-py client as the 'client' option.",
            )
        try:
            return get_redis_connection(self.alias, write=True)
        except NotImplementedError:
            raise option_error(
                self.name,
                "alias",
                f"CACHES[{self.alias!r}] uses a django-redis client that gives no raw "
                "connection (the shard client?); pass a redis-py client as 'client'",
            ) from None

    def _resolve_client(self, option: Client | str) -> Client:
        if not isinstance(option, str):
            return option
        try:
            found = import_string(option)
        except ImportError as error:
            raise option_error(self.name, "client", f"cannot be imported: {error}") from None
        if not isinstance(found, (redis.Redis, RedisCluster)) and callable(found):
            found = found()
            self._owns_client = True
        if not isinstance(found, (redis.Redis, RedisCluster)):
            raise option_error(
                self.name,
                "client",
                f"{option!r} gives {found!r}, not a redis.Redis or RedisCluster object",
            )
        return found

    def close(self) -> None:
        # Only a client this store got from a factory is its own to close.
        with self._client_lock:
            client, self._client = self._client, None
            if client is not None and self._owns_client:
                client.close()
            self._owns_client = False

    # -- layout ---------------------------------------------------------------------------

    def key(self, sid: str) -> str:
        return self.prefix + sid

    def ttl_for(self, session: Record) -> int:
        """connect-redis's ``getTTL``: the ``ttl`` function, else the cookie's remaining
        seconds, else the ``ttl`` number."""
        if callable(self.ttl):
            return math.ceil(self.ttl(session))
        return self.ttl_seconds(session, self.ttl)

    # -- express's store methods ----------------------------------------------------------

    def get(self, sid: str) -> Record | None:
        value = self.redis.get(self.key(sid))
        return None if value is None else loads(value)

    def set(self, sid: str, session: Record) -> None:
        ttl = self.ttl_for(session)
        if ttl <= 0:
            self.destroy(sid)
        elif self.disable_ttl:
            self.redis.set(self.key(sid), dumps(session))
        else:
            self.redis.set(self.key(sid), dumps(session), ex=ttl)

    def destroy(self, sid: str) -> None:
        self.redis.delete(self.key(sid))

    def touch(self, sid: str, session: Record) -> None:
        if self.disable_touch or self.disable_ttl:
            return
        # EXPIRE never creates a key, and deletes it when the TTL is <= 0.
        self.redis.expire(self.key(sid), self.ttl_for(session))

    def all(self) -> dict[str, Record]:
        sessions: dict[str, Record] = {}
        client = self.redis
        for keys in self._scan_batches(client):
            if isinstance(client, RedisCluster):
                values = client.mget_nonatomic(keys)
            else:
                values = client.mget(keys)
            for key, value in zip(keys, values, strict=True):
                if value is not None:  # expired since the scan
                    sessions[_text(key)[len(self.prefix) :]] = loads(value)
        return sessions

    def clear(self) -> None:
        client = self.redis
        for keys in self._scan_batches(client):
            client.delete(*keys)  # redis-py splits it by slot on a cluster

    def length(self) -> int:
        client = self.redis
        return sum(len(keys) for keys in self._scan_batches(client))

    def prune(
        self, *, dry_run: bool = False, progress: Callable[[int], None] | None = None
    ) -> None:
        """Nothing to do: Redis deletes each session key when its TTL runs out."""
        return None

    def _scan_batches(self, client: Client) -> Iterator[list[bytes | str]]:
        """The keys under ``prefix``, by ``SCAN`` on the server or on every primary of a
        cluster, without repeats (SCAN may return a key twice), in batches of
        ``scanCount``."""
        pattern = _GLOB_SPECIAL.sub(r"\\\1", self.prefix) + "*"
        if isinstance(client, RedisCluster):
            keys = client.scan_iter(
                match=pattern, count=self.scan_count, target_nodes=RedisCluster.PRIMARIES
            )
        else:
            keys = client.scan_iter(match=pattern, count=self.scan_count)
        seen: set[bytes | str] = set()
        batch: list[bytes | str] = []
        for key in keys:
            if key in seen:
                continue
            seen.add(key)
            batch.append(key)
            if len(batch) >= self.scan_count:
                yield batch
                batch = []
        if batch:
            yield batch

    # -- safe writes ----------------------------------------------------------------------

    def read(self, sid: str, *, touch: bool = False) -> Versioned | None:
        """The record, with the stored bytes as version. With ``touch``, the TTL is
        refreshed in the same round trip (unless the TTL is a function, which only
        Python can run: the session layer then touches at the end of the request)."""
        client = self.redis
        touched = touch and not (self.disable_touch or self.disable_ttl or callable(self.ttl))
        if touched:
            value = self._read_and_touch(keys=[self.key(sid)], args=[self.ttl], client=client)
        else:
            value = client.get(self.key(sid))
        if value is None:
            return None
        return Versioned(loads(value), version=value, touched=touched)

    def create(self, sid: str, session: Record) -> None:
        ttl = self.ttl_for(session)
        client = self.redis
        if ttl <= 0:
            # Already expired: connect-redis would not store it; only say if it is taken.
            if client.exists(self.key(sid)):
                raise CreateError(sid)
            return
        expiry = None if self.disable_ttl else ttl
        if not client.set(self.key(sid), dumps(session), ex=expiry, nx=True):
            raise CreateError(sid)

    def replace(self, sid: str, session: Record, version: Any) -> bool:
        if version is None:
            return False
        ttl = self.ttl_for(session)
        expiry = "none" if self.disable_ttl and ttl > 0 else max(ttl, 0)
        written = self._replace(
            keys=[self.key(sid)], args=[version, dumps(session), expiry], client=self.redis
        )
        return bool(written)
