"""Sessions in Redis, in connect-redis's layout (v4 and later).

Each session is a Redis string ``prefix + sid`` holding the session's JSON, with a key
TTL of ``ceil((cookie.expires - now) / 1000)`` seconds, or the ``ttl`` option when the
cookie has no expiry; a TTL of zero or less deletes the key. connect-redis's ``touch``
only moves the TTL and leaves the stored ``cookie.expires`` stale; so does this store.
Redis expires keys itself, so there is nothing to prune.

Round trips: ``read(touch=True)`` reads and refreshes the TTL in one Lua script, a
compare-and-set ``replace`` is one script, ``create`` is one ``SET NX``. Everything goes
to the primary: a lagging replica must not log anyone out. The bulk methods use
``SCAN`` (never ``KEYS``), on every primary of a cluster.

A user's sessions are listed from a per-user index that only Django keeps (connect-redis
has none): a Redis set of session ids per user key (``indexPrefix`` + ``d:<Django user
id>`` or ``p:<passport.user as JSON>``), updated after each write and destroy by a
command of its own (each command names one key, so it runs on any cluster slot), with
an expiry of twice its longest member's TTL, so that most touches need no command for
it. Members whose record expired or changed hands are dropped when read. Records Node
wrote are in no set until Django writes them, ``reindex()`` (``SCAN``) adds them, or a
``thorough`` ``sessions_of`` (what ``logout_everywhere`` asks for) scans for them.

Async requests talk to Redis through ``redis.asyncio`` (one client per running event
loop, built from the same settings as the sync client), never through a thread. Every
command waits at most about ``timeout`` seconds, whatever the client's retry policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import math
import re
import threading
import weakref
from collections.abc import Callable, Collection, Generator, Iterable, Iterator, Mapping
from functools import cache
from typing import Any, ClassVar, NamedTuple, TypeVar

from asgiref.sync import sync_to_async
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

try:
    import redis
    import redis.asyncio
    import redis.asyncio.cluster
    import redis.asyncio.connection
    import redis.asyncio.retry
    import redis.connection
    import redis.retry
    from redis.backoff import NoBackoff
    from redis.cluster import ClusterNode, RedisCluster
    from redis.commands.core import AsyncScript, Script
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise ImproperlyConfigured(
        "the redis store needs redis-py and django-redis: "
        "pip install 'django-express-session[redis]'"
    ) from error

from ..core.drive import arun, run
from ..core.ops import Op
from ..exceptions import CorruptRecord, CreateError
from ..owner import USER_KEY_PATTERNS, Owner, index_terms
from ..record import Record, dumps, expires_ms, loads, now_ms, original_max_age
from .base import (
    Lazy,
    Progress,
    Store,
    Versioned,
    check_bool,
    check_number,
    check_str,
    option_error,
)

logger = logging.getLogger("django_express_session")

Client = redis.Redis | RedisCluster
AsyncClient = redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster

# GET and refresh the TTL in one round trip, as express's end-of-request touch would:
# it resets cookie.expires to now + originalMaxAge, so the TTL is ceil(originalMaxAge/1000)
# seconds, or the fallback (ARGV[1]) for a browser-session cookie. Like connect-redis's
# touch, the stored value is left as it is, and a TTL <= 0 makes EXPIRE delete the key.
# An originalMaxAge that no JavaScript Date can hold (NaN, infinite, or more than
# 8.64e15 ms either way; cjson decodes 1e400 as inf) is no usable maxAge: the fallback
# applies, and the value goes back to Python, which judges the record.
# ARGV[2] is "1" to touch ("0": only report the TTL). The TTL never runs past the
# absolute cap, djangoExpressSession.startedAt + ARGV[4] ms ("0": no cap), counted from
# ARGV[5] (now, epoch ms, Django's clock). With touchAfter (ARGV[3] ms > 0), the key is
# touched only when its remaining PTTL is below the full TTL minus touchAfter.
# Returns {value, touched (0/1), PTTL after (ms; -1 no expiry, -2 gone)}.
READ_AND_TOUCH = b"""
local value = redis.call('GET', KEYS[1])
if not value then return false end
local ttl = tonumber(ARGV[1])
local ok, session = pcall(cjson.decode, value)
if ok and type(session) == 'table' then
  if type(session.cookie) == 'table' and type(session.cookie.originalMaxAge) == 'number' then
    local ms = session.cookie.originalMaxAge
    if ms == ms and ms >= -8.64e15 and ms <= 8.64e15 then
      ttl = math.ceil(ms / 1000)
    end
  end
  local absolute = tonumber(ARGV[4])
  local mine = session.djangoExpressSession
  if absolute > 0 and type(mine) == 'table' and type(mine.startedAt) == 'number'
      and mine.startedAt == mine.startedAt and math.abs(mine.startedAt) <= 8.64e15 then
    local left = math.ceil((mine.startedAt + absolute - tonumber(ARGV[5])) / 1000)
    if left < ttl then ttl = left end
  end
end
local pttl = redis.call('PTTL', KEYS[1])
local after = tonumber(ARGV[3])
if ARGV[2] == '1' and (after <= 0 or pttl < 0 or ttl * 1000 - pttl >= after) then
  if ttl <= 0 then ttl = 0 end  -- (math.ceil can give -0, which EXPIRE refuses)
  redis.call('EXPIRE', KEYS[1], string.format('%.0f', ttl))
  return {value, 1, redis.call('PTTL', KEYS[1])}
end
return {value, 0, pttl}
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

# Add ARGV[1] to the index set KEYS[1] and keep the set at least ARGV[2] seconds more
# ("none": for good, for a member that never expires), never shortening its expiry:
# the set must outlive every member. Returns 1 if ARGV[1] was not a member yet.
INDEX_ADD = """
local existed = redis.call('EXISTS', KEYS[1]) == 1
local added = redis.call('SADD', KEYS[1], ARGV[1])
if ARGV[2] == 'none' then
  redis.call('PERSIST', KEYS[1])
else
  local ms = tonumber(ARGV[2]) * 1000
  local pttl = redis.call('PTTL', KEYS[1])
  if not existed or (pttl >= 0 and pttl < ms) then redis.call('PEXPIRE', KEYS[1], ms) end
end
return added
"""

# An index set is kept this many times its newest member's TTL: a Django touch within
# one TTL of the write that filed the session then needs no command for the set (see
# ``_index_may_lapse``), and a logged-in read costs one round trip, as an anonymous one.
INDEX_HEADROOM = 2

# The most keys one MGET of a user's sessions asks for: a reply that a slow network can
# deliver within the store's ``timeout``.
MGET_BATCH = 1000

_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")

# The asyncio twins of the connection and pool classes whose settings can be copied.
_ASYNC_CONNECTIONS = {
    redis.connection.Connection: redis.asyncio.connection.Connection,
    redis.connection.SSLConnection: redis.asyncio.connection.SSLConnection,
    redis.connection.UnixDomainSocketConnection: (
        redis.asyncio.connection.UnixDomainSocketConnection
    ),
}
_ASYNC_POOLS = {
    redis.connection.ConnectionPool: redis.asyncio.connection.ConnectionPool,
    redis.connection.BlockingConnectionPool: redis.asyncio.connection.BlockingConnectionPool,
}
# Connection keyword arguments that are redis-py's own plumbing (parsers, retry policy,
# maintenance-notification handlers bound to one pool...), never copied to a new client.
_INTERNAL_KWARGS = frozenset(
    {
        "self", "retry", "retry_on_error", "retry_on_timeout", "parser", "parser_class",
        "command_packer", "encoder_class", "redis_connect_func", "event_dispatcher",
        "himport_registry", "maint_notifications_config", "maint_notifications_pool_handler",
        "maintenance_notification_hash", "maintenance_state",
        "oss_cluster_maint_notifications_handler", "orig_host_address",
        "orig_socket_connect_timeout", "orig_socket_timeout", "connection_pool",
    }
)  # fmt: skip


@cache
def _accepted(target: Callable[..., Any]) -> frozenset[str]:
    """The keyword arguments ``target`` (a class: along its MRO) names."""
    names: set[str] = set()
    for owner in getattr(target, "__mro__", (target,)):
        init = vars(owner).get("__init__") if isinstance(owner, type) else owner
        if init is not None:
            names.update(inspect.signature(init).parameters)
    return frozenset(names - _INTERNAL_KWARGS)


def _settings_for(target: Callable[..., Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The user-level settings among ``kwargs`` that ``target`` takes."""
    accepted = _accepted(target)
    return {key: value for key, value in kwargs.items() if key in accepted}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


class _Connection(NamedTuple):
    """A client with the store's scripts, sync or asyncio alike: the calls the store
    builds take one and return the result (sync) or an awaitable of it (asyncio)."""

    client: Any
    read_and_touch: Script | AsyncScript
    replace: Script | AsyncScript


Call = Callable[[_Connection], Any]
T = TypeVar("T")
#: A primitive as a sequence of calls, each sent once the previous one answered: a
#: generator that yields each call (``_sent``), gets its answer back, and returns the
#: result. ``core.drive`` runs it, sync or asyncio, with the store's ``_Caller``.
Plan = Generator[Op, Any, T]


def _sent(call: Call | None) -> Op:
    """The plan's step that sends ``call`` (None: nothing to send, the answer is None)."""
    return Op("call", (call,))


class _Caller:
    """What ``core.drive`` runs the store's plans with (as the database store's
    statements run with its executor): each call on the sync client, or on the running
    loop's asyncio client."""

    #: Raised as they are: the session's own driver turns them into a 503.
    connection_errors: tuple[type[BaseException], ...] = ()
    blocking = True
    thread_sensitive = False
    native_async = True

    def __init__(self, store: RedisStore) -> None:
        self.store = store

    def call(self, call: Call | None) -> Any:
        return self.store._run(call)

    async def acall(self, call: Call | None) -> Any:
        return await self.store._arun(call)


def _pipeline(client: Any) -> Any:
    """A non-transactional pipeline (on a cluster, split by node as redis-py does)."""
    if isinstance(client, (RedisCluster, redis.asyncio.cluster.RedisCluster)):
        return client.pipeline()
    return client.pipeline(transaction=False)


def _many_gets(client: Any, keys: list[str]) -> Any:
    """MGET, one per slot on a cluster."""
    if isinstance(client, (RedisCluster, redis.asyncio.cluster.RedisCluster)):
        return client.mget_nonatomic(keys)
    return client.mget(keys)


def _ttl_of(pttl_ms: int) -> int | None:
    """A key's PTTL as the whole seconds an index set must outlast (None: no expiry)."""
    return None if pttl_ms < 0 else max(1, math.ceil(pttl_ms / 1000))


class RedisStore(Store):
    """connect-redis's store: options ``alias`` (a django-redis ``CACHES`` entry) or
    ``client`` (a redis-py client, or a dotted path to one or to a factory), ``prefix``,
    ``ttl``, ``disableTouch``, ``disableTTL``, ``scanCount``, ``timeout``, and
    ``indexPrefix`` (where the per-user index sets go; ``"users:" + prefix`` by
    default, outside the keys connect-redis scans)."""

    name = "redis"
    native_async: ClassVar[bool] = True
    touches_on_read: ClassVar[bool] = True
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
        timeout: float = 0.5,
        indexPrefix: str | None = None,
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
        self._caller = _Caller(self)
        self.index_prefix = check_str(
            self.name, "indexPrefix", "users:" + self.prefix if indexPrefix is None else indexPrefix
        )
        if self.index_prefix == self.prefix:
            raise option_error(
                self.name, "indexPrefix", "must differ from 'prefix': the sets are no sessions"
            )
        self.ttl = self._check_ttl(ttl)
        self.disable_touch = check_bool(self.name, "disableTouch", disableTouch)
        self.disable_ttl = check_bool(self.name, "disableTTL", disableTTL)
        self.scan_count = self._check_int("scanCount", scanCount)
        check_number(self.name, "timeout", timeout)
        if not timeout > 0:
            raise option_error(self.name, "timeout", f"must be more than 0, not {timeout!r}")
        self.timeout = float(timeout)
        self._scripts = (Script(None, READ_AND_TOUCH), Script(None, REPLACE))
        self._async_scripts = (AsyncScript(None, READ_AND_TOUCH), AsyncScript(None, REPLACE))
        #: The sync client, and whether the store built it (then it is the store's to close).
        self._sync: Lazy[tuple[_Connection, bool]] = Lazy(self._connect, self._disconnect)
        #: How to build an asyncio client like the sync one (it gives None when the sync
        #: client has no asyncio form here).
        self._async_recipe: Lazy[Callable[[], AsyncClient | None]] = Lazy(self._recipe)
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Connection] = (
            weakref.WeakKeyDictionary()
        )
        self._by_loop_lock = threading.Lock()

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

    # -- the bound on each command --------------------------------------------------------
    #
    # redis-py has no per-command deadline on its sync API, and its default policy retries
    # a failed command 10 times with a 5 s socket timeout (a frozen Redis took 5 s and
    # more to give a 503). So every command goes through a client of this store's own,
    # built from the configured one's settings with socket timeouts of ``timeout`` and
    # one immediate retry on a connection error only (a pooled connection that a restart
    # broke), never on a timeout: a command waits about ``timeout`` at most. The
    # django-redis alias's own client and pool, shared with the cache, are left as they
    # are. The asyncio calls are also cut off by ``asyncio.wait_for`` after ``timeout``.

    def _bounds(self) -> dict[str, Any]:
        return {
            "socket_timeout": self.timeout,
            "socket_connect_timeout": self.timeout,
            "retry": redis.retry.Retry(
                NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,)
            ),
            "retry_on_timeout": False,
            "retry_on_error": [],
        }

    def _cluster_bounds(self) -> dict[str, Any]:
        # A cluster client retries timeouts itself whatever the policy's errors, after
        # asking the cluster for its layout again: no retries, a frozen node costs one wait.
        bounds = {**self._bounds(), "retry": redis.retry.Retry(NoBackoff(), 0)}
        del bounds["retry_on_timeout"]  # not an option of the asyncio cluster client
        return bounds

    # -- the connections ------------------------------------------------------------------

    @property
    def redis(self) -> Client:
        """The sync client every command goes through: always the primary."""
        return self._sync.get()[0].client

    def _connect(self) -> tuple[_Connection, bool]:
        if self._client_option is None:
            return _Connection(self._alias_client(), *self._scripts), True
        given, from_factory = self._resolve_client(self._client_option)
        client, owned = self._bounded(given)
        if from_factory and client is not given:
            given.close()  # the factory's client was only the model of the store's own
        return _Connection(client, *self._scripts), owned or from_factory

    @staticmethod
    def _disconnect(connection: tuple[_Connection, bool]) -> None:
        connected, owned = connection
        if owned:
            connected.client.close()
            if isinstance(connected.client, redis.Redis):  # a pool given to it stays open
                connected.client.connection_pool.disconnect()

    def _alias_client(self) -> redis.Redis:
        """A client of the alias's primary (the first ``LOCATION``), built by the alias's
        django-redis connection factory from its ``OPTIONS`` (``PASSWORD``,
        ``SOCKET_TIMEOUT``, ``CONNECTION_POOL_KWARGS``, ``CONNECTION_POOL_CLASS``,
        ``REDIS_CLIENT_CLASS``, a Sentinel factory...), with the bounds on top, in a
        pool of its own: the cache's pool keeps its own settings."""
        from django.conf import settings
        from django.core.cache import InvalidCacheBackendError, caches
        from django_redis.cache import RedisCache
        from django_redis.client import ShardClient
        from django_redis.pool import get_connection_factory

        try:
            cache_backend = caches[self.alias]
        except InvalidCacheBackendError:
            raise option_error(
                self.name, "alias", f"names no CACHES entry: {self.alias!r}"
            ) from None
        if not isinstance(cache_backend, RedisCache):
            raise option_error(
                self.name,
                "alias",
                f"must name a django-redis cache (BACKEND 'django_redis.cache.RedisCache'); "
                f"CACHES[{self.alias!r}] is a {type(cache_backend).__module__}."
                f"{type(cache_backend).__name__}. "
                "For another setup, pass a redis-py client as the 'client' option.",
            )
        config = settings.CACHES[self.alias]
        options = dict(config.get("OPTIONS") or {})
        client_class = options.get("CLIENT_CLASS", "django_redis.client.DefaultClient")
        if issubclass(import_string(client_class), ShardClient):
            raise option_error(
                self.name,
                "alias",
                f"CACHES[{self.alias!r}] uses django-redis's shard client, which spreads "
                "keys over several servers; pass a redis-py client as 'client'",
            )
        location = config.get("LOCATION")
        servers = location.split(",") if isinstance(location, str) else list(location or ())
        if not servers:
            raise option_error(self.name, "alias", f"CACHES[{self.alias!r}] has no LOCATION")
        options["CONNECTION_POOL_KWARGS"] = {
            **(options.get("CONNECTION_POOL_KWARGS") or {}),
            **self._bounds(),
        }
        factory = get_connection_factory(options)
        # get_connection_pool (not get_or_create_connection_pool, which shares the
        # cache's pool by URL): a pool of this store's own.
        pool = factory.get_connection_pool(factory.make_connection_params(servers[0]))
        return factory.redis_client_cls(connection_pool=pool, **factory.redis_client_cls_kwargs)

    def _resolve_client(self, option: Client | str) -> tuple[Client, bool]:
        """The client the option names, and whether a factory built it for the store."""
        if not isinstance(option, str):
            return option, False
        try:
            found = import_string(option)
        except ImportError as error:
            raise option_error(self.name, "client", f"cannot be imported: {error}") from None
        from_factory = not isinstance(found, (redis.Redis, RedisCluster)) and callable(found)
        if from_factory:
            found = found()
        if not isinstance(found, (redis.Redis, RedisCluster)):
            raise option_error(
                self.name,
                "client",
                f"{option!r} gives {found!r}, not a redis.Redis or RedisCluster object",
            )
        return found, from_factory

    def _bounded(self, given: Client) -> tuple[Client, bool]:
        """A client like ``given`` with the bounds: the store's own copy of it, or
        ``given`` itself (used as it is, its own timeouts apply) when its pool is of a
        kind whose settings cannot be copied (Sentinel's, a custom pool class)."""
        if isinstance(given, RedisCluster):
            nodes = self._cluster_nodes(given, ClusterNode)
            settings = self._cluster_settings(given, RedisCluster, redis.connection.Connection)
            return RedisCluster(startup_nodes=nodes, **{**settings, **self._cluster_bounds()}), True
        pool = given.connection_pool
        if type(pool) not in _ASYNC_POOLS or pool.connection_class not in _ASYNC_CONNECTIONS:
            logger.warning(
                "the redis session store uses the given client as it is (its %s cannot be "
                "copied): its own socket_timeout and retry policy apply, not 'timeout'",
                type(pool).__name__,
            )
            return given, False
        settings = _settings_for(pool.connection_class, pool.connection_kwargs)
        copy = type(pool)(
            connection_class=pool.connection_class,
            max_connections=pool.max_connections,
            **{**settings, **self._bounds()},
        )
        return redis.Redis(connection_pool=copy), True

    @staticmethod
    def _cluster_nodes(client: RedisCluster, node_class: type) -> list[Any]:
        return [node_class(node.host, node.port) for node in client.get_nodes()]

    @staticmethod
    def _cluster_settings(
        client: RedisCluster, client_class: type, connection_class: type
    ) -> dict[str, Any]:
        kwargs = {
            key: value
            for key, value in client.nodes_manager.connection_kwargs.items()
            if key not in {"host", "port", "startup_nodes"}  # the nodes are passed apart
        }
        return {
            **_settings_for(connection_class, kwargs),
            **_settings_for(client_class, kwargs),
            "require_full_coverage": client.nodes_manager._require_full_coverage,
            "address_remap": client.nodes_manager.address_remap,
        }

    def _recipe(self) -> Callable[[], AsyncClient | None]:
        """How to build an asyncio client with the sync client's settings and the
        bounds; it gives None when that client has no asyncio form here (Sentinel...)."""
        client = self.redis
        if isinstance(client, RedisCluster):
            async_cluster = redis.asyncio.cluster
            nodes = self._cluster_nodes(client, async_cluster.ClusterNode)
            settings = self._cluster_settings(
                client, async_cluster.RedisCluster, redis.asyncio.connection.Connection
            )
            kwargs = {
                **settings,
                **self._cluster_bounds(),
                "retry": redis.asyncio.retry.Retry(NoBackoff(), 0),
            }
            return lambda: async_cluster.RedisCluster(startup_nodes=nodes, **kwargs)
        pool = client.connection_pool
        pool_class = _ASYNC_POOLS.get(type(pool))
        connection_class = _ASYNC_CONNECTIONS.get(pool.connection_class)
        if pool_class is None or connection_class is None:
            return lambda: None
        kwargs = {
            **_settings_for(connection_class, pool.connection_kwargs),
            **self._bounds(),
            "retry": redis.asyncio.retry.Retry(
                NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,)
            ),
        }

        def build() -> redis.asyncio.Redis:
            copy = pool_class(
                connection_class=connection_class, max_connections=pool.max_connections, **kwargs
            )
            return redis.asyncio.Redis.from_pool(copy)  # closing the client closes the pool

        return build

    def _async_connection(self) -> _Connection | None:
        """The asyncio client of the running event loop (each loop has its own: a client
        is bound to the loop it connected on), or None without an asyncio form."""
        loop = asyncio.get_running_loop()
        connection = self._by_loop.get(loop)
        if connection is not None:
            return connection
        recipe = self._async_recipe.get()
        with self._by_loop_lock:
            # A client of a closed loop cannot be closed by awaiting: its sockets go
            # with it (redis-py closes them when the client is collected).
            for closed in [other for other in self._by_loop if other.is_closed()]:
                del self._by_loop[closed]
            connection = self._by_loop.get(loop)
            if connection is None:
                client = recipe()
                if client is None:
                    return None
                connection = self._by_loop[loop] = _Connection(client, *self._async_scripts)
        return connection

    def close(self) -> None:
        # Only clients this store built are its own to close (not a client object given).
        self._sync.reset()
        self._async_recipe.reset()
        with self._by_loop_lock:
            connections = list(self._by_loop.items())
            self._by_loop.clear()
        for loop, connection in connections:
            if loop.is_running() and not loop.is_closed():
                asyncio.run_coroutine_threadsafe(connection.client.aclose(), loop)

    # -- running a call -------------------------------------------------------------------

    def _run(self, call: Call | None) -> Any:
        return None if call is None else call(self._sync.get()[0])

    async def _arun(self, call: Call | None) -> Any:
        if call is None:
            return None
        connection = self._async_connection()
        if connection is None:  # no asyncio form of the client: the sync one, in a thread
            return await sync_to_async(self._run, thread_sensitive=False)(call)
        try:
            return await asyncio.wait_for(call(connection), self.timeout)
        except asyncio.TimeoutError as error:
            raise redis.exceptions.TimeoutError(
                f"Redis did not answer within {self.timeout} s"
            ) from error

    def _drive(self, plan: Plan[T]) -> T:
        return run(plan, self._caller)

    async def _adrive(self, plan: Plan[T]) -> T:
        return await arun(plan, self._caller)

    # -- layout ---------------------------------------------------------------------------

    def key(self, sid: str) -> str:
        return self.prefix + sid

    def index_key(self, term: str) -> str:
        """The set of the session ids filed under ``term`` (see ``owner.index_terms``)."""
        return self.index_prefix + term

    def _index_keys(self, record: Record) -> frozenset[str]:
        return frozenset(self.index_key(term) for term in index_terms(record))

    def _member_ttl(self, ttl: int) -> int | None:
        """How long an index set must keep a session written with ``ttl``."""
        return None if self.disable_ttl else ttl

    def ttl_for(self, session: Record) -> int:
        """connect-redis's ``getTTL``: the ``ttl`` function, else the cookie's remaining
        seconds, else the ``ttl`` number."""
        if callable(self.ttl):
            return math.ceil(self.ttl(session))
        return self.ttl_seconds(session, self.ttl)

    # -- the calls of the five primitives (shared by the sync and asyncio twins) ----------

    def _read_call(self, sid: str, touch: bool) -> tuple[Call, float]:
        """The read, and the time it was sent (epoch ms, to turn the PTTL it reports
        into an expiry). With ``touch`` it refreshes the TTL too (not when the TTL is a
        function, which only Python can run: the session layer then touches at the end
        of the request, and the read reports the TTL for ``touchAfter``)."""
        key = self.key(sid)
        sent = now_ms()
        if touch and not (self.disable_touch or self.disable_ttl):
            args = [
                self.ttl if not callable(self.ttl) else 0,
                "0" if callable(self.ttl) else "1",
                int(self.touch_after * 1000),
                self.absolute_max_age or 0,
                sent,
            ]
            return (lambda c: c.read_and_touch(keys=[key], args=args, client=c.client)), sent
        return (lambda c: c.client.get(key)), sent

    @staticmethod
    def _versioned(answer: Any, sent: float) -> Versioned | None:
        """The record, with the stored bytes as version (and, from the script, whether
        it touched and the expiry it left)."""
        if answer is None:
            return None
        if not isinstance(answer, list):
            return Versioned(loads(answer), version=answer)
        value, touched, pttl = answer
        expires_at = int(sent + pttl) if pttl >= 0 else None
        return Versioned(loads(value), version=value, touched=bool(touched), expires_at=expires_at)

    def fresh_expiry(self, session: Record) -> int | None:
        if self.disable_ttl:
            return None
        return now_ms() + self.ttl_for(session) * 1000

    def _queue_index(
        self,
        pipe: Any,
        sid: str,
        add: Collection[str],
        remove: Collection[str] = (),
        ttl: int | None = None,
    ) -> None:
        """Queue on ``pipe``: ``sid`` into the sets ``add`` (kept ``ttl`` seconds at
        least; None: for good) and out of the sets ``remove``."""
        expiry = "none" if ttl is None else max(ttl, 1) * INDEX_HEADROOM
        for key in sorted(add):
            # (EVAL by name: redis-py's cluster pipelines refuse their eval() method.)
            pipe.execute_command("EVAL", INDEX_ADD, 1, key, sid, expiry)
        for key in sorted(remove):
            pipe.srem(key, sid)

    def _index_call(
        self,
        sid: str,
        add: Collection[str],
        remove: Collection[str] = (),
        ttl: int | None = None,
    ) -> Call | None:
        """The index update after a write: one round trip, or None when nothing changes."""
        if not add and not remove:
            return None

        def call(c: _Connection) -> Any:
            pipe = _pipeline(c.client)
            self._queue_index(pipe, sid, add, remove, ttl)
            return pipe.execute()

        return call

    def _stored_keys(self, value: bytes | str) -> frozenset[str]:
        """The index sets of a stored record (none if it cannot be read)."""
        try:
            return self._index_keys(loads(value))
        except CorruptRecord:
            return frozenset()

    # -- the five primitives, as plans ----------------------------------------------------

    def _read_plan(self, sid: str, touch: bool) -> Plan[Versioned | None]:
        call, sent = self._read_call(sid, touch)
        known = self._versioned((yield _sent(call)), sent)
        if known is not None and known.touched and self._index_may_lapse(known, sent):
            # The session lives longer now than its sets were kept for: so must they.
            ttl = None if known.expires_at is None else _ttl_of(int(known.expires_at - sent))
            yield _sent(self._index_call(sid, self._index_keys(known.record), ttl=ttl))
        return known

    @staticmethod
    def _index_may_lapse(known: Versioned, now: float) -> bool:
        """Whether a touch may have made the session outlive its index sets. The write
        that filed it (at ``cookie.expires - originalMaxAge``) kept them
        ``INDEX_HEADROOM`` times its TTL: until the touched expiry passes that, they
        need nothing. Unknown (a browser-session cookie, an expiry Redis keeps alone):
        they may. A session Node wrote is not filed by this (the identity bridge files
        it with the login it writes; ``reindex`` and a thorough search find the rest)."""
        if not index_terms(known.record):
            return False
        expires, max_age = expires_ms(known.record), original_max_age(known.record)
        if expires is None or max_age is None or known.expires_at is None:
            return True
        return known.expires_at > expires + (INDEX_HEADROOM - 1) * max_age

    def _create_plan(self, sid: str, session: Record) -> Plan[None]:
        key, ttl = self.key(sid), self.ttl_for(session)
        if ttl <= 0:
            # Already expired: connect-redis would not store it; only say if it is taken.
            if (yield _sent(lambda c: c.client.exists(key))):
                raise CreateError(sid)
            return
        value, expiry = dumps(session), None if self.disable_ttl else ttl
        if not (yield _sent(lambda c: c.client.set(key, value, ex=expiry, nx=True))):
            raise CreateError(sid)
        yield _sent(self._index_call(sid, self._index_keys(session), ttl=self._member_ttl(ttl)))

    def _replace_plan(self, sid: str, session: Record, version: Any) -> Plan[bool]:
        if version is None:
            return False
        key, ttl = self.key(sid), self.ttl_for(session)
        args = [version, dumps(session), "none" if self.disable_ttl and ttl > 0 else max(ttl, 0)]
        if not (yield _sent(lambda c: c.replace(keys=[key], args=args, client=c.client))):
            return False
        # Only after the write took: the sets it leaves still list the session otherwise.
        before = self._stored_keys(version)
        after = self._index_keys(session) if ttl > 0 else frozenset()
        yield _sent(self._index_call(sid, after, before - after, self._member_ttl(ttl)))
        return True

    def _destroy_plan(self, sid: str) -> Plan[None]:
        key = self.key(sid)

        def get_and_delete(c: _Connection) -> Any:
            # GET and DEL in one round trip (GETDEL needs Redis 6.2): the value names
            # the sets to leave.
            pipe = _pipeline(c.client)
            pipe.get(key)
            pipe.delete(key)
            return pipe.execute()

        value, _ = yield _sent(get_and_delete)
        if value is not None:
            yield _sent(self._index_call(sid, (), self._stored_keys(value)))

    def _touch_call(self, sid: str, session: Record) -> Call | None:
        if self.disable_touch or self.disable_ttl:
            return None
        # EXPIRE never creates a key, and deletes it when the TTL is <= 0.
        key, ttl = self.key(sid), self.ttl_for(session)
        sets = self._index_keys(session) if ttl > 0 else frozenset()
        if not sets:
            return lambda c: c.client.expire(key, ttl)

        def call(c: _Connection) -> Any:
            # The sets' expiry follows the session's, in the same round trip (a set that
            # lists a session destroyed meanwhile drops it when read).
            pipe = _pipeline(c.client)
            pipe.expire(key, ttl)
            self._queue_index(pipe, sid, sets, ttl=ttl)
            return pipe.execute()

        return call

    def read(self, sid: str, *, touch: bool = False) -> Versioned | None:
        return self._drive(self._read_plan(sid, touch))

    async def aread(self, sid: str, *, touch: bool = False) -> Versioned | None:
        return await self._adrive(self._read_plan(sid, touch))

    def create(self, sid: str, session: Record) -> None:
        self._drive(self._create_plan(sid, session))

    async def acreate(self, sid: str, session: Record) -> None:
        await self._adrive(self._create_plan(sid, session))

    def replace(self, sid: str, session: Record, version: Any) -> bool:
        return self._drive(self._replace_plan(sid, session, version))

    async def areplace(self, sid: str, session: Record, version: Any) -> bool:
        return await self._adrive(self._replace_plan(sid, session, version))

    def destroy(self, sid: str) -> None:
        self._drive(self._destroy_plan(sid))

    async def adestroy(self, sid: str) -> None:
        await self._adrive(self._destroy_plan(sid))

    def touch(self, sid: str, session: Record) -> None:
        self._run(self._touch_call(sid, session))

    async def atouch(self, sid: str, session: Record) -> None:
        await self._arun(self._touch_call(sid, session))

    # -- a user's sessions: the index ------------------------------------------------------

    def _checked_plan(self, listed: Mapping[str, Collection[str]]) -> Plan[tuple[dict, dict]]:
        """Look up the sessions ``listed`` (sid: the sets that list it), by MGET of up to
        ``MGET_BATCH`` keys (one per slot on a cluster). Returns the records some set
        rightly lists, and the stale entries (set: sids) whose session is gone,
        unreadable or now another's."""
        sids = sorted(listed)
        values: list[Any] = []
        for start in range(0, len(sids), MGET_BATCH):
            keys = [self.key(sid) for sid in sids[start : start + MGET_BATCH]]
            values += (yield _sent(lambda c, keys=keys: _many_gets(c.client, keys))) or []
        found: dict[str, Record] = {}
        stale: dict[str, list[str]] = {}
        for sid, value in zip(sids, values, strict=True):
            record = None
            if value is not None:
                with contextlib.suppress(CorruptRecord):
                    record = loads(value)
            owners = frozenset() if record is None else self._index_keys(record)
            for key in listed[sid]:
                if key in owners:
                    found[sid] = record  # type: ignore[assignment]
                else:
                    stale.setdefault(key, []).append(sid)
        return found, stale

    @staticmethod
    def _drop_call(stale: Mapping[str, list[str]]) -> Call | None:
        if not stale:
            return None

        def call(c: _Connection) -> Any:
            pipe = _pipeline(c.client)
            for key, sids in stale.items():
                pipe.srem(key, *sids)
            return pipe.execute()

        return call

    def _members_plan(self, keys: list[str]) -> Plan[dict[str, set[str]]]:
        """The members of the sets ``keys``: sid -> the sets that list it (one round trip)."""
        if not keys:
            return {}

        def call(c: _Connection) -> Any:
            pipe = _pipeline(c.client)
            for key in keys:
                pipe.smembers(key)
            return pipe.execute()

        listed: dict[str, set[str]] = {}
        for key, members in zip(keys, (yield _sent(call)), strict=True):
            for sid in members:
                listed.setdefault(_text(sid), set()).add(key)
        return listed

    def _sessions_of_plan(self, owner: Owner) -> Plan[dict[str, Record]]:
        keys = sorted(self.index_key(term) for term in owner.index_terms())
        listed = yield from self._members_plan(keys)
        if not listed:
            return {}
        found, stale = yield from self._checked_plan(listed)
        yield _sent(self._drop_call(stale))
        return found

    def sessions_of(self, owner: Owner, *, thorough: bool = False) -> dict[str, Record]:
        """The owner's sessions from the index: three round trips at most (the sets, the
        records, dropping stale entries). ``thorough`` also scans every session for the
        ones no set lists yet (written by Node) and files them."""
        found = self._drive(self._sessions_of_plan(owner))
        if thorough:
            found.update(self._unindexed(owner, found))
        return self.owned_live(owner, found.items())

    async def asessions_of(self, owner: Owner, *, thorough: bool = False) -> dict[str, Record]:
        found = await self._adrive(self._sessions_of_plan(owner))
        if thorough:  # the scan goes through the sync client, in a thread, like all()
            unindexed = sync_to_async(self._unindexed, thread_sensitive=False)
            found.update(await unindexed(owner, found))
        return self.owned_live(owner, found.items())

    # -- a user's sessions: scanning the records -------------------------------------------

    def _scanned(self, client: Client, patterns: Iterable[str]) -> Iterator[dict[str, Record]]:
        """By ``SCAN`` batch (one MGET each; one per slot on a cluster), the readable
        sessions whose JSON text matches one of ``patterns``: only those are parsed, and
        a record that cannot be decoded belongs to no one."""
        wanted = re.compile("|".join(patterns).encode())
        for keys in self._scan_batches(client):
            batch = {}
            for key, value in zip(keys, _many_gets(client, keys), strict=True):
                if value is None or not wanted.search(_bytes(value)):
                    continue  # expired since the scan, or no one's we look for
                with contextlib.suppress(CorruptRecord):
                    batch[_text(key)[len(self.prefix) :]] = loads(value)
            yield batch

    def _file(self, client: Client, sets: Mapping[str, frozenset[str]]) -> int:
        """File each session of ``sets`` (sid: its sets) for as long as its TTL (one
        pipeline of PTTLs, one of additions); return how many entries were new."""
        pipe = _pipeline(client)
        for sid in sets:
            pipe.pttl(self.key(sid))
        ttls = pipe.execute()
        pipe = _pipeline(client)
        for (sid, keys), pttl in zip(sets.items(), ttls, strict=True):
            if pttl != -2:  # gone since it was read
                self._queue_index(pipe, sid, keys, ttl=_ttl_of(pttl))
        return sum(pipe.execute())

    def _unindexed(self, owner: Owner, listed: Collection[str]) -> dict[str, Record]:
        """The owner's sessions not in ``listed``, by scanning them all; they are filed
        on the way, so the next plain ``sessions_of`` lists them."""
        client, found = self.redis, {}
        mine = frozenset(self.index_key(term) for term in owner.index_terms())
        for batch in self._scanned(client, owner.json_patterns()):
            sets = {}
            for sid, record in batch.items():
                keys = self._index_keys(record) & mine
                if keys and sid not in listed:
                    found[sid] = record
                    sets[sid] = keys
            if sets:
                self._file(client, sets)
        return found

    def reindex(self, *, dry_run: bool = False, progress: Progress | None = None) -> int:
        """File every session under its owners' sets (records Node wrote, sets that
        expired before a member Node touched), then drop the set entries whose session
        is gone or another's. Returns how many entries were added and removed; with
        ``dry_run``, how many would be. ``progress`` gets the running count."""
        client, changed = self.redis, 0
        for batch in self._scanned(client, USER_KEY_PATTERNS):
            sets = {
                sid: keys for sid, record in batch.items() if (keys := self._index_keys(record))
            }
            if not sets:
                continue
            if dry_run:
                pipe = _pipeline(client)
                for sid, keys in sets.items():
                    for key in sorted(keys):
                        pipe.sismember(key, sid)
                changed += sum(1 for member in pipe.execute() if not member)
            else:
                changed += self._file(client, sets)
            if progress is not None:
                progress(changed)
        for keys in self._scan_batches(client, self.index_prefix):
            listed = self._drive(self._members_plan([_text(key) for key in keys]))
            _, stale = self._drive(self._checked_plan(listed)) if listed else ({}, {})
            changed += sum(len(sids) for sids in stale.values())
            if not dry_run:
                self._run(self._drop_call(stale))
            if progress is not None:
                progress(changed)
        return changed

    # -- bulk methods (sync: the async twins run them in a thread) ------------------------

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

    def _scan_batches(
        self, client: Client, prefix: str | None = None
    ) -> Iterator[list[bytes | str]]:
        """The keys under ``prefix`` (the sessions' by default, never an index set), by
        ``SCAN`` on the server or on every primary of a cluster, without repeats (SCAN
        may return a key twice), in batches of ``scanCount``."""
        prefix = self.prefix if prefix is None else prefix
        # The index sets lie under the sessions' prefix only when set up so (an empty
        # prefix, say): they are no sessions.
        skipped = self.index_prefix.encode() if prefix != self.index_prefix else None
        pattern = _GLOB_SPECIAL.sub(r"\\\1", prefix) + "*"
        if isinstance(client, RedisCluster):
            keys = client.scan_iter(
                match=pattern, count=self.scan_count, target_nodes=RedisCluster.PRIMARIES
            )
        else:
            keys = client.scan_iter(match=pattern, count=self.scan_count)
        seen: set[bytes | str] = set()
        batch: list[bytes | str] = []
        for key in keys:
            if key in seen or (skipped is not None and _bytes(key).startswith(skipped)):
                continue
            seen.add(key)
            batch.append(key)
            if len(batch) >= self.scan_count:
                yield batch
                batch = []
        if batch:
            yield batch
