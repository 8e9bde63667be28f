"""The checks of the redis store's Sentinel options: ``sentinels`` (the Sentinels'
addresses), ``service`` (the name they monitor the primary under) and
``sentinelOptions`` (keyword arguments of redis-py's ``Sentinel``: how to reach the
Sentinels and the primary). The store's ``timeout`` sets every socket timeout and the
retry policy, so those are refused here rather than silently replaced."""

from __future__ import annotations

from typing import Any

from ...validation import option_error
from .clients import _accepted
from .libraries import redis_py

#: Set by the store from ``timeout`` (see ``RedisClients._bounds``).
BOUND_SETTINGS = frozenset(
    {"socket_timeout", "socket_connect_timeout", "retry", "retry_on_timeout", "retry_on_error"}
)
#: ``Sentinel``'s own arguments, beside the settings of the connections to the primary.
SENTINEL_ARGUMENTS = frozenset({"sentinel_kwargs", "min_other_sentinels", "force_master_ip"})
#: Found by asking the Sentinels, never given.
FOUND_SETTINGS = frozenset({"host", "port", "unix_socket_path", "path"})


def check_sentinels(store: str, key: str, value: Any) -> list[tuple[str, int]] | None:
    """``[["host", port], ...]``: at least one address."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or not value:
        raise option_error(
            store, key, f'must be a non-empty list of ["host", port] pairs, not {value!r}'
        )
    addresses = []
    for address in value:
        if (
            not isinstance(address, (list, tuple))
            or len(address) != 2
            or not isinstance(address[0], str)
            or not address[0]
            or isinstance(address[1], bool)
            or not isinstance(address[1], int)
            or not 0 < address[1] < 65536
        ):
            raise option_error(
                store, key, f'has {address!r}; each Sentinel is a ["host", port] pair'
            )
        addresses.append((address[0], address[1]))
    return addresses


def _check_keys(store: str, key: str, settings: Any, accepted: frozenset[str]) -> dict:
    if not isinstance(settings, dict) or not all(isinstance(name, str) for name in settings):
        raise option_error(store, key, f"must be a dict of keyword arguments, not {settings!r}")
    for name in settings:
        if name in BOUND_SETTINGS:
            raise option_error(
                store, key, f"sets {name!r}, which the store's 'timeout' option sets"
            )
        if name in FOUND_SETTINGS:
            raise option_error(store, key, f"sets {name!r}: the Sentinels say where the primary is")
        if name not in accepted:
            raise option_error(
                store, key, f"has {name!r}, which redis-py's Sentinel connections do not take"
            )
    return dict(settings)


def check_sentinel_options(store: str, key: str, value: Any) -> dict[str, Any] | None:
    """Keyword arguments of ``redis.sentinel.Sentinel``: its own
    (``sentinel_kwargs``: how to reach the Sentinels, ``min_other_sentinels``,
    ``force_master_ip``) and the settings of the connections to the primary
    (``password``, ``username``, ``db``, ``ssl``, ``protocol``...)."""
    if value is None:
        return None
    connection_settings = _accepted(redis_py().sentinel_ssl_connection) | {"ssl"}
    options = _check_keys(store, key, value, connection_settings | SENTINEL_ARGUMENTS)
    if options.get("sentinel_kwargs") is not None:
        options["sentinel_kwargs"] = _check_keys(
            store, f"{key}.sentinel_kwargs", options["sentinel_kwargs"], connection_settings
        )
    return options
