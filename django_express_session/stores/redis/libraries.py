"""The client libraries the redis store drives: redis-py, and valkey-py (its fork: the
same API under other names, and exceptions of its own), each with the Django cache
backend built on it (django-redis, django-valkey). The store builds its own clients
with the library of the client it is given, so that a valkey client's errors, scripts
and retry policy are valkey's."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import Any

from django.utils.module_loading import import_string


@dataclass(frozen=True)
class Library:
    """The classes of one client library that the store uses, by role."""

    name: str
    exceptions: ModuleType
    client: type
    cluster: type
    cluster_node: type
    async_client: type
    async_cluster: type
    async_cluster_node: type
    #: sync connection and pool classes whose settings can be copied -> asyncio twins
    connections: Mapping[type, type]
    pools: Mapping[type, type]
    connection: type
    async_connection: type
    retry: type
    async_retry: type
    no_backoff: type
    script: type
    async_script: type
    sentinel: type
    async_sentinel: type
    #: the connection class of a Sentinel-managed primary over TLS (it takes every
    #: setting a Sentinel-managed connection can be given)
    sentinel_ssl_connection: type

    @property
    def connection_errors(self) -> tuple[type[BaseException], ...]:
        errors = self.exceptions
        return (
            errors.ConnectionError,  # includes BusyLoadingError (a restart loading data)
            errors.TimeoutError,
            errors.ReadOnlyError,  # a former primary, during a failover
            errors.ClusterDownError,
            errors.SlotNotCoveredError,
        )

    def owns(self, client: Any, asynchronous: bool = False) -> bool:
        if asynchronous:
            return isinstance(client, (self.async_client, self.async_cluster))
        return isinstance(client, (self.client, self.cluster))


def _load(name: str, package: str, client: str, cluster: str) -> Library:
    """The roles of ``package``'s classes (redis-py and valkey-py name the client and
    cluster classes after themselves, the rest alike)."""

    def get(module: str, attribute: str) -> Any:
        return getattr(importlib.import_module(f"{package}.{module}"), attribute)

    def connection(module: str, attribute: str) -> Any:
        return get(f"{module}connection", attribute)

    return Library(
        name=name,
        exceptions=importlib.import_module(f"{package}.exceptions"),
        client=get("client", client),
        cluster=get("cluster", cluster),
        cluster_node=get("cluster", "ClusterNode"),
        async_client=get("asyncio.client", client),
        async_cluster=get("asyncio.cluster", cluster),
        async_cluster_node=get("asyncio.cluster", "ClusterNode"),
        connections={
            connection("", kind): connection("asyncio.", kind)
            for kind in ("Connection", "SSLConnection", "UnixDomainSocketConnection")
        },
        pools={
            connection("", kind): connection("asyncio.", kind)
            for kind in ("ConnectionPool", "BlockingConnectionPool")
        },
        connection=connection("", "Connection"),
        async_connection=connection("asyncio.", "Connection"),
        retry=get("retry", "Retry"),
        async_retry=get("asyncio.retry", "Retry"),
        no_backoff=get("backoff", "NoBackoff"),
        script=get("commands.core", "Script"),
        async_script=get("commands.core", "AsyncScript"),
        sentinel=get("sentinel", "Sentinel"),
        async_sentinel=get("asyncio.sentinel", "Sentinel"),
        sentinel_ssl_connection=get("sentinel", "SentinelManagedSSLConnection"),
    )


@cache
def redis_py() -> Library:
    return _load("redis-py", "redis", "Redis", "RedisCluster")


@cache
def valkey_py() -> Library | None:
    """valkey-py, when it is installed (it is optional)."""
    try:
        return _load("valkey-py", "valkey", "Valkey", "ValkeyCluster")
    except ImportError:
        return None


def installed() -> tuple[Library, ...]:
    return tuple(library for library in (redis_py(), valkey_py()) if library is not None)


def library_of(client: Any, asynchronous: bool = False) -> Library | None:
    """The library ``client`` (a client or cluster client, sync or asyncio as said)
    belongs to."""
    return next((lib for lib in installed() if lib.owns(client, asynchronous)), None)


def cluster_classes() -> tuple[type, ...]:
    """The cluster clients, sync and asyncio, of every installed library."""
    return tuple(cls for library in installed() for cls in (library.cluster, library.async_cluster))


def connection_errors() -> tuple[type[BaseException], ...]:
    return tuple(error for library in installed() for error in library.connection_errors)


def response_errors() -> tuple[type[BaseException], ...]:
    """An error the server answered with (an unknown command, a script's error)."""
    return tuple(library.exceptions.ResponseError for library in installed())


@dataclass(frozen=True)
class CacheBackend:
    """A Django cache backend on one library (django-redis, django-valkey), as much
    of it as the store needs to build its own client of an alias's primary."""

    package: str
    library: Callable[[], Library | None]
    backend: str  # the BACKEND of a CACHES entry
    default_client: str  # its OPTIONS["CLIENT_CLASS"] by default
    shard_client: str  # the client class that spreads keys over servers
    default_factory: str  # its connection factory by default
    factory_setting: str  # the Django setting naming another
    client_class_option: str  # the OPTIONS key of the library client class
    default_client_class: str
    default_pool_class: str

    def connection_factory(self, options: dict[str, Any]) -> Any:
        if self.package == "django_redis":
            from django_redis.pool import get_connection_factory

            return get_connection_factory(options=options)
        from django_valkey.pool import get_connection_factory as valkey_factory

        return valkey_factory(self.default_factory, options)

    def client_of(self, factory: Any, pool: Any) -> Any:
        """A client of ``pool``, of the class and with the arguments the factory uses."""
        if self.package == "django_redis":
            return factory.redis_client_cls(connection_pool=pool, **factory.redis_client_cls_kwargs)
        return factory.base_client_cls(connection_pool=pool, **factory.base_client_cls_kwargs)

    def is_shard_client(self, client_class: str) -> bool:
        return issubclass(import_string(client_class), import_string(self.shard_client))


CACHE_BACKENDS = (
    CacheBackend(
        package="django_redis",
        library=redis_py,
        backend="django_redis.cache.RedisCache",
        default_client="django_redis.client.DefaultClient",
        shard_client="django_redis.client.ShardClient",
        default_factory="django_redis.pool.ConnectionFactory",
        factory_setting="DJANGO_REDIS_CONNECTION_FACTORY",
        client_class_option="REDIS_CLIENT_CLASS",
        default_client_class="redis.client.Redis",
        default_pool_class="redis.connection.ConnectionPool",
    ),
    CacheBackend(
        package="django_valkey",
        library=valkey_py,
        backend="django_valkey.cache.ValkeyCache",
        default_client="django_valkey.client.DefaultClient",
        shard_client="django_valkey.client.ShardClient",
        default_factory="django_valkey.pool.ConnectionFactory",
        factory_setting="DJANGO_VALKEY_CONNECTION_FACTORY",
        client_class_option="BASE_CLIENT_CLASS",
        default_client_class="valkey.client.Valkey",
        default_pool_class="valkey.connection.ConnectionPool",
    ),
)

#: The BACKEND paths a store ``alias`` may name.
CACHE_BACKEND_PATHS = tuple(backend.backend for backend in CACHE_BACKENDS)


def cache_backend_of(cache_object: Any) -> CacheBackend | None:
    """The backend kind of a Django cache object (None: neither of them)."""
    for backend in CACHE_BACKENDS:
        module, _, name = backend.backend.rpartition(".")
        try:
            backend_class = getattr(importlib.import_module(module), name)
        except ImportError:
            continue
        if isinstance(cache_object, backend_class):
            return backend
    return None
