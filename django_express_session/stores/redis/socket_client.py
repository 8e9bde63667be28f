"""The store's per-request Redis commands from async code on one TCP connection per
event loop, every coroutine's commands pipelined on it, the replies parsed by hiredis.

redis-py's asyncio client spends about 60 µs of Python per command on this machine
(its pool, retry, stream, timeout and observability layers) where a bare round trip
costs about 15 (``docs/benchmarks.md``). A request of an async view sends one to three
commands, so under uvicorn that was most of the store's cost. The client built here is
the library's own asyncio client class with ``execute_command`` replaced for a few
single commands (``SOCKET_COMMANDS``: what a request sends); redis-py's methods still
build them and its response callbacks still read the replies, so the store sees the same
values and exceptions either way (``tests/test_store_redis_socket_client.py`` runs both
over the same cases). Every other command, and every pipeline, goes through redis-py's
pool as before.

It is used only where it makes the connection exactly as the pool would: a plain
``redis.asyncio.Redis`` (or valkey's) over TCP without TLS, RESP2, bytes replies, with
a password or ACL user, a database number, a client name and TCP keepalive at most
(``socket_client_for``); any other client stays redis-py's alone.

Replies come back in the order the commands went out, so a command its caller gave up
on (the store's ``timeout``) keeps its place and its late reply is dropped; the
connection then takes no new command (a new one does, after Redis answered its
handshake) and closes once its replies are in. A broken connection fails the commands
waiting on it with ``ConnectionError``; a command that meets one is sent once more on a
new connection, as the store's redis-py policy does.
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from functools import cache
from types import ModuleType
from typing import Any

from .libraries import Library

try:
    import hiredis
except ImportError:  # pragma: no cover - hiredis comes with the redis extra
    hiredis = None

#: Error codes of replies and the library's exception each one is (as redis-py's parser
#: maps them); any other code is a ``ResponseError``.
_ERROR_CLASSES = {
    "WRONGPASS": "AuthenticationError",
    "NOAUTH": "AuthenticationError",
    "LOADING": "BusyLoadingError",
    "NOSCRIPT": "NoScriptError",
    "READONLY": "ReadOnlyError",
    "OOM": "OutOfMemoryError",
    "NOPERM": "NoPermissionError",
    "EXECABORT": "ExecAbortError",
    "CLUSTERDOWN": "ClusterDownError",
    "MASTERDOWN": "MasterDownError",
}


def reply_error(errors: ModuleType, message: str) -> Exception:
    """The library's exception for an error reply (its code stripped, as redis-py does
    for the codes it knows)."""
    code, _, rest = message.partition(" ")
    if code == "ERR":
        if rest == "invalid password":
            return errors.AuthenticationError(rest)
        return errors.ResponseError(rest)
    name = _ERROR_CLASSES.get(code)
    if name is None:
        return errors.ResponseError(message)
    return getattr(errors, name)(rest)


class _Protocol(asyncio.Protocol):
    """One connection: what is written, and the callers waiting for the replies, in
    order."""

    def __init__(self, errors: ModuleType) -> None:
        self.errors = errors
        self.reader = hiredis.Reader()
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.transport: asyncio.Transport | None = None
        self.lost = False
        #: A caller gave up on a reply: nothing more is sent on it; it closes once the
        #: replies owed are in (or dropped).
        self.retired = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        try:
            while (reply := self.reader.gets()) is not False:
                waiter = self.waiting.popleft()
                if not waiter.done():  # else its caller gave up: the reply is dropped
                    waiter.set_result(reply)
            if self.retired and not self.waiting:
                self.close(self.errors.ConnectionError("Connection retired."))
        except hiredis.ProtocolError as error:
            self.close(self.errors.ConnectionError(f"Protocol error: {error}"))

    def connection_lost(self, error: Exception | None) -> None:
        reason = "Connection closed by server." if error is None else str(error)
        self.close(self.errors.ConnectionError(f"Error while reading from socket: {reason}"))

    def close(self, error: Exception) -> None:
        self.lost = True
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_exception(error)
        if self.transport is not None:
            self.transport.close()

    def retire(self) -> None:
        self.retired = True
        if not self.waiting:
            self.close(self.errors.ConnectionError("Connection retired."))

    def send(self, packed: bytes) -> asyncio.Future[Any]:
        if self.lost:
            raise self.errors.ConnectionError("Connection closed.")
        waiter = asyncio.get_running_loop().create_future()
        self.waiting.append(waiter)
        self.transport.write(packed)  # type: ignore[union-attr]
        return waiter


#: The commands sent on the store's own connection: single commands that leave the
#: connection's state as it was (never MULTI, SELECT, CLIENT, a blocking command...).
SOCKET_COMMANDS = frozenset(
    {"GET", "GETEX", "SET", "EXISTS", "EXPIRE", "PTTL", "DEL", "MGET", "EVAL", "EVALSHA",
     "SCRIPT LOAD"}
)  # fmt: skip
#: Options of redis-py's ``execute_command`` that change how the reply is read.
_READING_OPTIONS = frozenset({"NEVER_DECODE", "EMPTY_RESPONSE"})


class SocketCommands:
    """Mixed into the library's asyncio client class (``socket_client_for``): its
    ``SOCKET_COMMANDS`` go out on the store's own connection, as redis-py's methods
    build them, and their replies through the client's response callbacks; any other
    command, and pipelines, stay redis-py's, on its pool."""

    _socket: _Socket

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        command = args[0]
        if command not in SOCKET_COMMANDS or not _READING_OPTIONS.isdisjoint(options):
            return await super().execute_command(*args, **options)  # type: ignore[misc]
        reply = await self._socket.send((*command.split(), *args[1:]))
        options.pop("keys", None)
        callback = self.response_callbacks.get(command)  # type: ignore[attr-defined]
        return reply if callback is None else callback(reply, **options)

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await self._socket.aclose()
        await self._socket.owner.aclose()


class _Socket:
    """The connection of a ``SocketCommands`` client, made again when it broke."""

    def __init__(
        self,
        owner: Any,
        errors: ModuleType,
        address: tuple[str, int],
        handshake: tuple[tuple[Any, ...], ...],
        connect_timeout: float | None,
        keepalive: dict[int, Any] | None,
    ) -> None:
        self.owner = owner  # the client whose pool this one shares: closed with it
        self.errors = errors
        self._address = address
        self._handshake = handshake
        self._connect_timeout = connect_timeout
        self._keepalive = keepalive  # TCP keepalive's options; None: off
        self._protocol: _Protocol | None = None
        self._connecting = asyncio.Lock()

    async def send(self, command: tuple[Any, ...]) -> Any:
        packed = hiredis.pack_command(command)
        try:
            reply = await self._exchange(packed)
        except self.errors.ConnectionError:
            # Once more on a new connection (one that a restart broke), as redis-py's
            # policy of the store does.
            reply = await self._exchange(packed)
        if isinstance(reply, hiredis.ReplyError):
            raise reply_error(self.errors, str(reply))
        return reply

    async def _exchange(self, packed: bytes) -> Any:
        protocol = await self._connected()
        try:
            return await protocol.send(packed)
        except asyncio.CancelledError:
            # The caller gave up (the store's timeout, a client that left): as redis-py
            # drops such a connection, the next commands go out on a new one, which
            # first has Redis answer (a frozen server then gets nothing more to run
            # once it wakes), while this one drains the replies it owes.
            protocol.retire()
            raise

    async def _connected(self) -> _Protocol:
        protocol = self._protocol
        if protocol is not None and not (protocol.lost or protocol.retired):
            return protocol
        async with self._connecting:
            protocol = self._protocol
            if protocol is None or protocol.lost or protocol.retired:
                protocol = self._protocol = await self._connect()
            return protocol

    async def _connect(self) -> _Protocol:
        host, port = self._address
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):
                transport, protocol = await loop.create_connection(
                    lambda: _Protocol(self.errors), host, port
                )
            if self._keepalive is not None:
                connected = transport.get_extra_info("socket")
                connected.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                for option, value in self._keepalive.items():
                    connected.setsockopt(socket.IPPROTO_TCP, option, value)
        except TimeoutError:
            raise self.errors.TimeoutError("Timeout connecting to server") from None
        except OSError as error:
            raise self.errors.ConnectionError(
                f"Error connecting to {host}:{port}. {error}"
            ) from error
        try:
            # Redis answers a new connection before any command goes out on it (CLIENT
            # ID when there is nothing else to say), as redis-py's handshake does.
            for command in (*self._handshake, ("CLIENT", "ID")):
                reply = await protocol.send(hiredis.pack_command(command))
                if isinstance(reply, hiredis.ReplyError):
                    error = reply_error(self.errors, str(reply))
                    if command[0] == "AUTH" and not isinstance(error, self.errors.ConnectionError):
                        error = self.errors.AuthenticationError(str(error))
                    raise error
        except BaseException:
            protocol.close(self.errors.ConnectionError("handshake not completed"))
            raise
        return protocol

    async def aclose(self) -> None:
        if self._protocol is not None:
            self._protocol.close(self.errors.ConnectionError("Connection closed."))
            self._protocol = None


@cache
def _client_class(base: type) -> type:
    return type(f"Socket{base.__name__}", (SocketCommands, base), {})


def socket_client_for(client: Any, library: Library) -> Any:
    """A client like ``client`` (an asyncio client of ``library``, whose pool it shares
    and which it closes with itself) that sends ``SOCKET_COMMANDS`` on a connection of
    its own; None when that connection could not be made like the pool's."""
    if hiredis is None or type(client) is not library.async_client:
        return None
    pool = getattr(client, "connection_pool", None)
    if pool is None or pool.connection_class is not library.async_connection:
        return None  # TLS, a Unix socket, a Sentinel-managed connection...
    settings = pool.connection_kwargs
    if (
        settings.get("protocol") not in (None, 2, "2")
        or settings.get("legacy_responses", True) is not True
        or settings.get("decode_responses")
        or settings.get("encoding", "utf-8") != "utf-8"
        or settings.get("credential_provider") is not None
        or settings.get("redis_connect_func") is not None
        or settings.get("socket_type", 0)
    ):
        return None
    # How the pool would connect, read from a connection it would make (never opened):
    # the library resolves its own defaults (TCP keepalive and its options...).
    model = pool.connection_class(**settings)
    handshake: list[tuple[Any, ...]] = []
    if model.password is not None:
        username, password = model.username, model.password
        handshake.append(("AUTH", username, password) if username else ("AUTH", password))
    if model.db:
        handshake.append(("SELECT", model.db))
    if model.client_name:
        handshake.append(("CLIENT", "SETNAME", model.client_name))
    keepalive = dict(model.socket_keepalive_options or {}) if model.socket_keepalive else None
    fast = _client_class(library.async_client)(connection_pool=pool)
    fast._socket = _Socket(
        client,
        library.exceptions,
        (model.host, int(model.port)),
        tuple(handshake),
        model.socket_connect_timeout,
        keepalive,
    )
    return fast
