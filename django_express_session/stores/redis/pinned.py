"""A sync client whose commands go straight over this thread's own pooled connection.

On a local Redis, redis-py's per-command layers (taking and returning a pooled
connection under the pool's lock and its bookkeeping, the retry wrapper, the timing of
each command) cost about twice the CPU of sending the command and parsing its answer: 30
µs against 15 per command. The store's sync client therefore keeps one connection of its
pool per thread (taken on the thread's first command, given back when the thread ends)
and sends each command on it, with the store's own failure rule: a connection error is
retried once at once on a connection taken afresh from the pool (a restart, a failover),
a timeout is not, and any failure but an error reply drops the connection. A command of
plain arguments is packed by hiredis in one call, where redis-py's packer checks and
encodes each argument in Python first (``packed``).

Only the plain (non-cluster) sync clients the store builds itself, on pools of at least
``ROOMY_POOL`` connections, in a process of real threads (not gevent's or eventlet's
greenlets), are pinned; pipelines, scans and scripts still take the pool's way or go
through the command path here alike, and the asyncio clients are untouched.
"""

from __future__ import annotations

import codecs
import contextlib
import inspect
import os
import threading
from functools import cache
from typing import Any

from .libraries import Library

try:
    from hiredis import pack_command
except ImportError:  # pragma: no cover - hiredis comes with the redis extra
    pack_command = None

#: The argument types hiredis packs exactly as redis-py's encoder does with UTF-8 and
#: strict errors; any other (a float, which redis-py writes with ``repr``, a bool or a
#: None, which it refuses with its own error) is left to redis-py.
_PLAIN_ARGUMENTS = frozenset({str, bytes, int})


class _Pin:
    """This thread's connection, given back to the pool when the thread (or the client)
    is gone, unless the process forked meanwhile (the pool then starts afresh)."""

    __slots__ = ("connection", "pid", "plain_packing", "pool")

    def __init__(self, pool: Any, command_name: str) -> None:
        self.pool = pool
        self.pid = os.getpid()
        if _names_the_command(type(pool)):  # valkey-py, as redis-py before 5.3
            self.connection = pool.get_connection(command_name)
        else:
            self.connection = pool.get_connection()
        #: hiredis may pack this connection's commands of plain arguments.
        self.plain_packing = pack_command is not None and _utf8_strict(self.connection)

    def __del__(self) -> None:
        if self.pid == os.getpid():
            with contextlib.suppress(Exception):  # a pool already closed: nothing to do
                self.pool.release(self.connection)


class PinnedCommands:
    """The command path of a pinned client (mixed in before the library's client class)."""

    def __init__(self, *, connection_pool: Any, library: Library) -> None:
        super().__init__(connection_pool=connection_pool)  # type: ignore[call-arg]
        self._pins = threading.local()
        errors = library.exceptions
        self._retried = errors.ConnectionError
        self._answered = errors.ResponseError

    def execute_command(self, *args: Any, **options: Any) -> Any:
        # A connection error is retried once, on a connection taken afresh from the
        # pool: a restart or a failover broke the old one (the pool connects a
        # Sentinel's connection to the new primary).
        for last in (False, True):
            pin = self._pin(args[0])
            try:
                return self._send(pin, args, options)
            except self._answered:
                raise  # an error reply: the connection is in step
            except self._retried:
                self._unpin(pin)
                if last:
                    raise
            except BaseException:
                self._unpin(pin)
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _pin(self, command_name: str) -> _Pin:
        pin = getattr(self._pins, "pin", None)
        if pin is None or pin.pid != os.getpid():
            pin = self._pins.pin = _Pin(self.connection_pool, command_name)  # type: ignore[attr-defined]
        return pin

    def _unpin(self, pin: _Pin) -> None:
        """Drop this thread's connection (given back to the pool closed)."""
        pin.connection.disconnect()
        self._pins.pin = None

    def _send(self, pin: _Pin, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
        connection = pin.connection
        command = packed(args) if pin.plain_packing else None
        if command is None:
            connection.send_command(*args, **options)
        else:
            connection.send_packed_command(command, check_health=options.get("check_health", True))
        answer = self.parse_response(connection, args[0], **options)  # type: ignore[attr-defined]
        if getattr(connection, "should_reconnect", _never)():  # maintenance announced
            self._unpin(pin)
        return answer


def _never() -> bool:
    return False


def _utf8_strict(connection: Any) -> bool:
    """The connection's encoder writes strings as hiredis does."""
    encoder = getattr(connection, "encoder", None)
    try:
        utf8 = encoder is not None and codecs.lookup(encoder.encoding).name == "utf-8"
    except LookupError:  # redis-py's own encoder says so, on the first string
        return False
    return utf8 and encoder.encoding_errors == "strict"


def packed(args: tuple[Any, ...]) -> list[bytes] | None:
    """The command ``args`` as redis-py would send it, packed by hiredis in one call
    when every argument is a str, bytes or int and the name has no space (redis-py
    splits ``"SCRIPT LOAD"`` in two); None: for redis-py's own packer."""
    if pack_command is None:
        return None
    if not _PLAIN_ARGUMENTS.issuperset(map(type, args)):
        return None
    name = args[0]
    if " " in name if type(name) is str else b" " in name:
        return None
    return [pack_command(args)]


@cache
def _names_the_command(pool_class: type) -> bool:
    """The pool's ``get_connection`` still requires a command name."""
    parameter = inspect.signature(pool_class.get_connection).parameters.get("command_name")
    return parameter is not None and parameter.default is inspect.Parameter.empty


@cache
def _pinned_class(client_class: type) -> type:
    return type(f"Pinned{client_class.__name__}", (PinnedCommands, client_class), {})


def _threads_are_threads() -> bool:
    """``threading.local`` is the interpreter's own. Under gevent's or eventlet's monkey
    patching it is per greenlet, and a server's thousand greenlets would each keep a
    connection: their commands keep the library's way."""
    return getattr(threading.local, "__module__", None) == "_thread"


#: The smallest pool a client is pinned on (redis-py's default size): each thread keeps
#: one of its connections while it lives, so a pool bounded below that (a blocking pool,
#: a ``max_connections`` set to cap them) could run out and keeps the library's way.
ROOMY_POOL = 100


def pinned(client: Any, library: Library | None) -> Any:
    """A client like ``client`` (a plain sync redis-py or valkey-py client on a pool of
    at least ``ROOMY_POOL`` connections) on the same pool, its commands sent over this
    thread's own connection; any other as it is."""
    if library is None or not isinstance(client, library.client) or not _threads_are_threads():
        return client
    if (getattr(client.connection_pool, "max_connections", 0) or 0) < ROOMY_POOL:
        return client
    return _pinned_class(type(client))(connection_pool=client.connection_pool, library=library)
