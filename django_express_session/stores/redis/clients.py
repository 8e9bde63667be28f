"""How the Redis store reaches Redis: the sync client (from a django-redis or
django-valkey alias, a client the project gives, or Sentinel), one asyncio client per
event loop, the bound on every command, and the store's own operations (``Call``,
``InThread``) that run on them."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, NamedTuple

from asgiref.sync import sync_to_async
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

try:
    import redis
    import redis.asyncio
    import redis.asyncio.cluster
    from redis.cluster import RedisCluster
    from redis.commands.core import AsyncScript, Script
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise ImproperlyConfigured(
        "the redis store needs redis-py and django-redis: "
        "pip install 'django-express-session[redis]'"
    ) from error

from ...compat import cluster_requires_full_coverage
from ...core.ops import Op
from ...validation import option_error
from .libraries import (
    CACHE_BACKEND_PATHS,
    Library,
    cache_backend_of,
    cluster_classes,
    library_of,
    redis_py,
)
from .pinned import pinned
from .socket_client import socket_client_for

logger = logging.getLogger("django_express_session")

# (valkey-py's classes, when installed, stand beside these: see ``libraries``.)
Client = redis.Redis | RedisCluster
AsyncClient = redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster
# Connection keyword arguments that are redis-py's (or valkey-py's) own plumbing
# (parsers, retry policy, maintenance-notification handlers bound to one pool...), never
# copied to a new client.
_INTERNAL_KWARGS = frozenset(
    {
        "self", "retry", "retry_on_error", "retry_on_timeout", "parser", "parser_class",
        "command_packer", "encoder_class", "redis_connect_func", "event_dispatcher",
        "valkey_connect_func",
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


class Connection(NamedTuple):
    """A client with the store's scripts, sync or asyncio alike: the calls the store
    builds take one and return the result (sync) or an awaitable of it (asyncio).
    ``also_close``: clients the store built beside it (a Sentinel's), closed with it."""

    client: Any
    read_and_touch: Script | AsyncScript
    replace: Script | AsyncScript
    #: The write and the filing in one script; None on a cluster (the keys span slots).
    replace_and_file: Script | AsyncScript | None = None
    also_close: tuple[Any, ...] = ()


ClientCall = Callable[[Connection], Any]


@dataclass(frozen=True, slots=True)
class Call(Op):
    """The store's operation of sending ``call`` on the sync client, or on the running
    loop's asyncio client (None: nothing to send, the answer is None)."""

    call: ClientCall | None


@dataclass(frozen=True, slots=True)
class InThread(Op):
    """Run ``function``, which scans through the sync client: as it is in sync code, in
    a worker thread from async code."""

    function: Callable[[], Any]


class RedisClients:
    """The connections of a ``RedisStore`` (a mixin: the store holds the options)."""

    # -- the bound on each command --------------------------------------------------------
    #
    # redis-py has no per-command deadline on its sync API, and its default policy retries
    # a failed command 10 times with a 5 s socket timeout (a frozen Redis took 5 s and
    # more to give a 503). So every command goes through a client of this store's own,
    # built from the configured one's settings with socket timeouts of ``timeout`` and
    # one immediate retry on a connection error only (a pooled connection that a restart
    # broke, a primary that Sentinel replaced), never on a timeout: a command waits about
    # ``timeout`` at most. The cache alias's own client and pool, shared with the cache,
    # are left as they are. The asyncio calls are also cut off by ``asyncio.wait_for``
    # after ``timeout``. Each bound is built with the client's library (redis-py,
    # valkey-py): a policy only knows its own library's errors.

    def _bounds(self, library: Library) -> dict[str, Any]:
        return {
            "socket_timeout": self.timeout,
            "socket_connect_timeout": self.timeout,
            "retry": library.retry(
                library.no_backoff(), 1, supported_errors=(library.exceptions.ConnectionError,)
            ),
            "retry_on_timeout": False,
            "retry_on_error": [],
        }

    def _cluster_bounds(self, library: Library) -> dict[str, Any]:
        # A cluster client retries timeouts itself whatever the policy's errors, after
        # asking the cluster for its layout again: no retries, a frozen node costs one wait.
        bounds = {**self._bounds(library), "retry": library.retry(library.no_backoff(), 0)}
        del bounds["retry_on_timeout"]  # not an option of the asyncio cluster client
        return bounds

    def _async_bounds(self, library: Library) -> dict[str, Any]:
        """The bounds, with the library's asyncio retry policy."""
        return {
            **self._bounds(library),
            "retry": library.async_retry(
                library.no_backoff(), 1, supported_errors=(library.exceptions.ConnectionError,)
            ),
        }

    def _sentinel_bounds(self, library: Library, asynchronous: bool) -> dict[str, Any]:
        """How the store reaches the Sentinels themselves: the same timeouts, and no
        retry (asking for the primary moves on to the next Sentinel by itself)."""
        retry = library.async_retry if asynchronous else library.retry
        return {
            "socket_timeout": self.timeout,
            "socket_connect_timeout": self.timeout,
            "retry": retry(library.no_backoff(), 0),
        }

    def _connection(self, client: Any, also_close: tuple[Any, ...] = ()) -> Connection:
        """``client`` with the store's scripts, of its library and kind (sync, asyncio):
        a script object catches its own library's NOSCRIPT error."""
        asynchronous = library_of(client) is None
        library = library_of(client, asynchronous=asynchronous)
        script = library.async_script if asynchronous else library.script
        read_and_touch, replace, replace_and_file = self._script_sources
        return Connection(
            client,
            script(None, read_and_touch),
            script(None, replace),
            None if isinstance(client, cluster_classes()) else script(None, replace_and_file),
            also_close,
        )

    @property
    def redis(self) -> Client:
        """The sync client every command goes through: always the primary."""
        return self._sync.get()[0].client

    def _connect(self) -> tuple[Connection, bool]:
        if self.options.sentinels is not None:
            return self._sentinel_connection(asynchronous=False), True
        if self.options.client is None:
            client = self._alias_client()
            return self._connection(pinned(client, library_of(client))), True
        given, from_factory = self._resolve_client(self.options.client)
        client, owned = self._bounded(given)
        if from_factory and client is not given:
            given.close()  # the factory's client was only the model of the store's own
        if owned:  # a client given as it is keeps its own ways
            client = pinned(client, library_of(client))
        return self._connection(client), owned or from_factory

    @staticmethod
    def _disconnect(connection: tuple[Connection, bool]) -> None:
        connected, owned = connection
        if owned:
            for client in (connected.client, *connected.also_close):
                client.close()
                pool = getattr(client, "connection_pool", None)
                if pool is not None:  # a pool given to a client stays open when it closes
                    pool.disconnect()

    @staticmethod
    async def _adisconnect(connection: Connection | None) -> None:
        if connection is not None:
            for client in (connection.client, *connection.also_close):
                await client.aclose()

    # -- Sentinel -------------------------------------------------------------------------

    def _sentinel_connection(self, asynchronous: bool) -> Connection:
        """A client of the Sentinel-monitored ``service``'s primary, always the primary
        (a replica may lag: a session written a moment ago would be missing), built with
        redis-py's Sentinel from ``sentinels`` and ``sentinelOptions`` with the store's
        bounds. After a failover its next command finds the new primary: a connection
        to the old one fails (or answers READONLY) and the one retry asks the Sentinels."""
        library = redis_py()
        options = dict(self.options.sentinel_options or {})
        sentinel_kwargs = {
            **(options.pop("sentinel_kwargs", None) or {}),
            **self._sentinel_bounds(library, asynchronous),
        }
        bounds = self._async_bounds(library) if asynchronous else self._bounds(library)
        sentinel_class = library.async_sentinel if asynchronous else library.sentinel
        sentinel = sentinel_class(
            [tuple(address) for address in self.options.sentinels],
            sentinel_kwargs=sentinel_kwargs,
            **{**options, **bounds},
        )
        client_class = library.async_client if asynchronous else library.client
        client = sentinel.master_for(self.options.service, redis_class=client_class)
        if not asynchronous:
            client = pinned(client, library)
        return self._connection(client, tuple(sentinel.sentinels))

    # -- a django-redis or django-valkey alias --------------------------------------------

    def _alias_config(self) -> tuple[Any, str, dict[str, Any]]:
        """The alias's cache backend kind, its primary (its first ``LOCATION``) and its
        ``OPTIONS``, once the alias is known to be a cache this store can use."""
        from django.conf import settings
        from django.core.cache import InvalidCacheBackendError, caches

        try:
            cache_object = caches[self.alias]
        except InvalidCacheBackendError:
            raise option_error(
                self.name, "alias", f"names no CACHES entry: {self.alias!r}"
            ) from None
        backend = cache_backend_of(cache_object)
        if backend is None:
            accepted = " or ".join(repr(path) for path in CACHE_BACKEND_PATHS)
            raise option_error(
                self.name,
                "alias",
                f"must name a django-redis or django-valkey cache (BACKEND {accepted}); "
                f"CACHES[{self.alias!r}] is a {type(cache_object).__module__}."
                f"{type(cache_object).__name__}. "
                "For another setup, pass a redis-py or valkey-py client as the 'client' "
                "option.",
            )
        config = settings.CACHES[self.alias]
        options = dict(config.get("OPTIONS") or {})
        if backend.is_shard_client(options.get("CLIENT_CLASS", backend.default_client)):
            raise option_error(
                self.name,
                "alias",
                f"CACHES[{self.alias!r}] uses {backend.package}'s shard client, which "
                "spreads keys over several servers; pass a client as 'client'",
            )
        location = config.get("LOCATION")
        servers = location.split(",") if isinstance(location, str) else list(location or ())
        if not servers:
            raise option_error(self.name, "alias", f"CACHES[{self.alias!r}] has no LOCATION")
        return backend, servers[0], options

    def _alias_client(self) -> Client:
        """A client of the alias's primary, built by the alias's connection factory
        from its ``OPTIONS`` (``PASSWORD``, ``SOCKET_TIMEOUT``,
        ``CONNECTION_POOL_KWARGS``, ``CONNECTION_POOL_CLASS``, the client class, a
        Sentinel factory...), with the bounds on top, in a pool of its own: the cache's
        pool keeps its own settings."""
        backend, location, options = self._alias_config()
        options["CONNECTION_POOL_KWARGS"] = {
            **(options.get("CONNECTION_POOL_KWARGS") or {}),
            **self._bounds(backend.library()),
        }
        factory = backend.connection_factory(options)
        # get_connection_pool (not get_or_create_connection_pool, which shares the
        # cache's pool by URL): a pool of this store's own.
        pool = factory.get_connection_pool(factory.make_connection_params(location))
        return backend.client_of(factory, pool)

    def _alias_async_recipe(self) -> Callable[[], AsyncClient | None]:
        """How to build an asyncio client of the alias's primary, the documented way:
        ``Redis.from_pool(ConnectionPool.from_url(LOCATION, ...))`` (of redis.asyncio
        or valkey.asyncio) with the alias's ``USERNAME``, ``PASSWORD`` and
        ``CONNECTION_POOL_KWARGS`` and the bounds. An alias whose connections cannot be
        made the same way (a Sentinel or custom connection factory, a custom pool or
        client class) gives None: its sync client then serves async code too, in a
        thread."""
        from django.conf import settings

        backend, location, options = self._alias_config()
        library = backend.library()
        factory = options.get(
            "CONNECTION_FACTORY",
            getattr(settings, backend.factory_setting, backend.default_factory),
        )
        pool_class = library.pools.get(
            import_string(options.get("CONNECTION_POOL_CLASS", backend.default_pool_class))
        )
        client_class = import_string(
            options.get(backend.client_class_option, backend.default_client_class)
        )
        if (
            factory != backend.default_factory
            or pool_class is None
            or client_class is not library.client
        ):
            return lambda: None
        credentials = {
            key.lower(): options[key] for key in ("USERNAME", "PASSWORD") if options.get(key)
        }
        kwargs = {
            **credentials,
            **(options.get("CONNECTION_POOL_KWARGS") or {}),
            **self._async_bounds(library),
        }
        return lambda: library.async_client.from_pool(pool_class.from_url(location, **kwargs))

    # -- a client object ------------------------------------------------------------------

    def _resolve_client(self, option: Client | str) -> tuple[Client, bool]:
        """The client the option names, and whether a factory built it for the store."""
        if not isinstance(option, str):
            return option, False
        try:
            found = import_string(option)
        except ImportError as error:
            raise option_error(self.name, "client", f"cannot be imported: {error}") from None
        from_factory = library_of(found) is None and callable(found)
        if from_factory:
            found = found()
        if library_of(found) is None:
            raise option_error(
                self.name,
                "client",
                f"{option!r} gives {found!r}, not a redis.Redis, RedisCluster, "
                "valkey.Valkey or ValkeyCluster object",
            )
        return found, from_factory

    def _bounded(self, given: Client) -> tuple[Client, bool]:
        """A client like ``given`` with the bounds: the store's own copy of it, or
        ``given`` itself (used as it is, its own timeouts apply) when its pool is of a
        kind whose settings cannot be copied (Sentinel's, a custom pool class)."""
        library = library_of(given)
        if isinstance(given, library.cluster):
            nodes = self._cluster_nodes(given, library.cluster_node)
            settings = self._cluster_settings(given, library.cluster, library.connection)
            bounds = self._cluster_bounds(library)
            return library.cluster(startup_nodes=nodes, **{**settings, **bounds}), True
        pool = given.connection_pool
        if type(pool) not in library.pools or pool.connection_class not in library.connections:
            logger.warning(
                "the redis session store uses the given client as it is (its %s cannot be "
                "copied): its own socket_timeout and retry policy apply, not 'timeout'; "
                "for Sentinel, give the store 'sentinels' and 'service' instead",
                type(pool).__name__,
            )
            return given, False
        settings = _settings_for(pool.connection_class, pool.connection_kwargs)
        copy = type(pool)(
            connection_class=pool.connection_class,
            max_connections=pool.max_connections,
            **{**settings, **self._bounds(library)},
        )
        return library.client(connection_pool=copy), True

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
            "require_full_coverage": cluster_requires_full_coverage(client),
            "address_remap": client.nodes_manager.address_remap,
        }

    def _recipe(self) -> Callable[[], AsyncClient | None]:
        """How to build an asyncio client like the sync one, with the bounds; it gives
        None when that client has no asyncio form here (a Sentinel client given...)."""
        if self.options.client is None:
            return self._alias_async_recipe()
        # A client object: its settings are copied (redis-py has no documented way to
        # make an asyncio twin of a client), leaving out redis-py's own plumbing.
        client = self.redis
        library = library_of(client)
        if isinstance(client, library.cluster):
            nodes = self._cluster_nodes(client, library.async_cluster_node)
            settings = self._cluster_settings(
                client, library.async_cluster, library.async_connection
            )
            kwargs = {
                **settings,
                **self._cluster_bounds(library),
                "retry": library.async_retry(library.no_backoff(), 0),
            }
            return lambda: library.async_cluster(startup_nodes=nodes, **kwargs)
        pool = client.connection_pool
        pool_class = library.pools.get(type(pool))
        connection_class = library.connections.get(pool.connection_class)
        if pool_class is None or connection_class is None:
            return lambda: None
        kwargs = {
            **_settings_for(connection_class, pool.connection_kwargs),
            **self._async_bounds(library),
        }

        def build() -> AsyncClient:
            copy = pool_class(
                connection_class=connection_class, max_connections=pool.max_connections, **kwargs
            )
            return library.async_client.from_pool(copy)  # closing the client closes the pool

        return build

    def _async_connection(self) -> Connection | None:
        """The asyncio client of the running event loop (each loop has its own: a client
        is bound to the loop it connected on), or None without an asyncio form. (A
        client of a closed loop cannot be closed by awaiting: its sockets go with it,
        redis-py closes them when the client is collected.)"""
        return self._by_loop.get()

    def _new_async_connection(self) -> Connection | None:
        if self.options.sentinels is not None:
            # The Sentinels' own asyncio clients are built with it, on this loop.
            return self._sentinel_connection(asynchronous=True)
        client = self._async_recipe.get()()
        if client is None:
            return None
        connection = self._connection(client)
        # The per-request commands on a connection of the store's own, where it can be
        # made like the client's (``socket_client``); the rest stays redis-py's.
        fast = socket_client_for(client, library_of(client, asynchronous=True))
        return connection if fast is None else connection._replace(client=fast)

    def close(self) -> None:
        # Only clients this store built are its own to close (not a client object given).
        self._sync.reset()
        self._async_recipe.reset()
        self._by_loop.close()

    # -- running a call -------------------------------------------------------------------

    def _send(self, call: ClientCall | None) -> Any:
        return None if call is None else call(self._sync.get()[0])

    async def _asend(self, call: ClientCall | None) -> Any:
        if call is None:
            return None
        connection = self._async_connection()
        if connection is None:  # no asyncio form of the client: the sync one, in a thread
            return await sync_to_async(self._send, thread_sensitive=False)(call)
        try:
            return await asyncio.wait_for(call(connection), self.timeout)
        except asyncio.TimeoutError as error:
            raise redis.exceptions.TimeoutError(
                f"Redis did not answer within {self.timeout} s"
            ) from error

    def _perform_own(self, op: Op) -> Any:
        match op:
            case Call(call):
                return self._send(call)
            case InThread(function):
                return function()
        return super()._perform_own(op)

    async def _perform_own_async(self, op: Op) -> Any:
        match op:
            case Call(call):
                return await self._asend(call)
            case InThread(function):
                return await sync_to_async(function, thread_sensitive=False)()
        return await super()._perform_own_async(op)
