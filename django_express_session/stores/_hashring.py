"""Which memcached server holds a key, as node-memcached (connect-memcached's client)
decides it, so Django and an Express app find every session on the same server of a
shared pool.

node-memcached 2.2 places keys with the ``hashring`` package (3.2) in its default
``ketama`` compatibility (https://github.com/3rd-Eden/node-hashring, ``continuum``,
``find`` and ``hashValue``; https://github.com/3rd-Eden/memcached, ``lib/memcached.js``):

* each server gets ``floor(weight / total * 40 * servers)`` virtual nodes in double
  precision, weights all 1 for servers given as ``"host:port"`` strings: 40, except 39
  with seven servers, where the float product falls just short; virtual node ``i`` is the MD5 digest of ``"host-i"`` for a server on the
  default port 11211 and of ``"host:port-i"`` otherwise, the server named exactly as
  it was given;
* each digest gives four points, its four 4-byte groups read little-endian: 160 points
  per server (156 with seven) on a ring sorted by value (ties in the order they were made);
* a key's value is the first four bytes of the MD5 of its UTF-8 text, little-endian;
  it belongs to the first point at or above it, wrapping to the first point;
* one server holds every key (no ring at all).
"""

from __future__ import annotations

import bisect
import hashlib
import math
import re
from collections.abc import Sequence

#: hashring's default number of virtual nodes per server.
VIRTUAL_NODES = 40
#: Points per virtual node in ``ketama`` compatibility (one per 4 bytes of an MD5).
POINTS_PER_NODE = 4
#: node-memcached hashes ``host`` alone for a server on this port (``ketama``).
KETAMA_DEFAULT_PORT = 11211


def _md5(text: str) -> bytes:
    return hashlib.md5(text.encode(), usedforsecurity=False).digest()


#: A server as node-memcached's connection-parse reads it the way pymemcache does:
#: ``host`` or ``host:port`` (no unix socket, no bracketed IPv6 address).
_HOST_PORT = re.compile(r"[^:/\[\]\s]+(?::[0-9]+)?")


def node_names_alike(server: object) -> bool:
    """node-memcached reads ``server`` (a ``LOCATION`` entry) as the same host and port,
    so both sides hash it alike."""
    return isinstance(server, str) and _HOST_PORT.fullmatch(server) is not None


def _node_name(server: str) -> str:
    """What a server's virtual nodes are named after: ``host`` on the default port,
    else the server as given (connection-parse splits ``host:port`` at the colon)."""
    host, _, port = server.partition(":")
    return host if port.isdigit() and int(port) == KETAMA_DEFAULT_PORT else server


class NodeMemcachedRing:
    """node-memcached's placement of keys over ``servers`` (``"host:port"`` strings, as
    the Node app gives them)."""

    def __init__(self, servers: Sequence[str]) -> None:
        if not servers:
            raise ValueError("a memcached pool needs at least one server")
        self.servers = list(servers)
        # hashring's arithmetic, float for float (it loses a node per server at seven).
        nodes = math.floor(1 / len(self.servers) * VIRTUAL_NODES * len(self.servers))
        points: list[tuple[int, int]] = []  # (value, server index); sort keeps ties in order
        for index, server in enumerate(self.servers):
            name = _node_name(server)
            for node in range(nodes):
                digest = _md5(f"{name}-{node}")
                for group in range(POINTS_PER_NODE):
                    value = int.from_bytes(digest[group * 4 : group * 4 + 4], "little")
                    points.append((value, index))
        points.sort(key=lambda point: point[0])
        self._values = [value for value, _ in points]
        self._owners = [self.servers[index] for _, index in points]

    def get_node(self, key: str) -> str:
        """The server that holds ``key``."""
        if len(self.servers) == 1:
            return self.servers[0]
        value = int.from_bytes(_md5(key)[:4], "little")
        position = bisect.bisect_left(self._values, value)
        return self._owners[position if position < len(self._values) else 0]
