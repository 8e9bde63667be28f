"""Native asyncio for the database store on PostgreSQL: a few psycopg 3
``AsyncConnection``s per event loop, opened from the Django alias's own settings.

Django's connections belong to a thread, so without this every call of an async
request would wait for Django's one shared thread. The pool is this module rather than
psycopg_pool's ``AsyncConnectionPool``: the store needs a handful of autocommit
connections per event loop and nothing of what that pool adds (background workers
per pool, health checks, resizing), and one dependency fewer for the PostgreSQL extra.

A pool belongs to the event loop it was first used in (asyncio connections cannot move
between loops): ``LoopPools`` keeps one per running loop (``resources.PerLoop``),
so uvicorn's single loop and a test suite's many short-lived loops both work; the idle
connections of a pool are closed when its loop is garbage-collected, or by ``close()``.

Every call is bounded by ``timeout`` seconds, waiting for a free connection and
connecting included; the server gets the same bound as its ``statement_timeout``, so a
statement the client gave up on does not hold locks. A
connection that failed, or was abandoned mid-statement, is closed, and with it the idle
ones (after a server restart they are all dead). psycopg's errors are raised as
Django's (``django.db.OperationalError``...), as Django's own cursors do.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import socket
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

import psycopg
from django.db import utils

from .resources import PerLoop

#: Connections per event loop (each process of uvicorn/daphne runs one loop).
POOL_SIZE = 4

# Django's exceptions by psycopg's of the same name, most specific first (Django's
# ``DatabaseErrorWrapper`` order).
_DJANGO_ERRORS = (
    utils.DataError,
    utils.OperationalError,
    utils.IntegrityError,
    utils.InternalError,
    utils.ProgrammingError,
    utils.NotSupportedError,
    utils.DatabaseError,
    utils.InterfaceError,
    utils.Error,
)


def django_error(error: psycopg.Error) -> utils.Error:
    for kind in _DJANGO_ERRORS:
        if isinstance(error, getattr(psycopg, kind.__name__)):
            return kind(*error.args)
    raise AssertionError(f"not a DB-API error: {error!r}")  # pragma: no cover


def connection_params(wrapper: Any, timeout: float) -> dict[str, Any]:
    """``psycopg.AsyncConnection.connect`` keywords for the Django ``DatabaseWrapper``:
    its own (``get_connection_params``: NAME, USER, PASSWORD, HOST, PORT, OPTIONS, and
    Django's adapters), with async cursors of the same binding as Django's, autocommit,
    and the ``timeout`` as connect and statement timeouts."""
    params = wrapper.get_connection_params()
    server_side = wrapper.settings_dict["OPTIONS"].get("server_side_binding") is True
    params["cursor_factory"] = psycopg.AsyncCursor if server_side else psycopg.AsyncClientCursor
    params.setdefault("connect_timeout", max(2, math.ceil(timeout)))  # libpq's minimum: 2
    statement_timeout = f"-c statement_timeout={math.ceil(timeout * 1000)}"
    params["options"] = " ".join(filter(None, [params.get("options"), statement_timeout]))
    params["autocommit"] = True
    return params


class Pool:
    """At most ``size`` autocommit connections of one event loop; a caller beyond that
    waits for one to be returned."""

    def __init__(self, params: dict[str, Any], size: int) -> None:
        self._params = params
        self._size = size
        self._idle: list[psycopg.AsyncConnection] = []
        self._busy = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        # When the loop (hence this pool) goes, so do its idle connections.
        weakref.finalize(self, _finish, self._idle)

    async def execute(
        self,
        sql: str,
        params: Callable[[psycopg.AsyncConnection], list[Any]],
        timeout: float,
    ) -> tuple[int, list[tuple]]:
        """Run one statement; its row count and rows. ``params`` gives the parameters
        for the connection it runs on. ``TimeoutError`` after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        await asyncio.wait_for(self._acquire(), timeout)
        try:
            connection = await asyncio.wait_for(self._take(), deadline - loop.time())
            # Cancelling a statement would make psycopg ask the server to cancel it and
            # wait for that (seconds, from a server that does not answer): at the
            # deadline the socket is shut down instead, and the statement fails at once.
            watchdog = loop.call_at(deadline, _shut_down, connection)
            try:
                cursor = connection.cursor()
                await cursor.execute(sql, params(connection))
                rows = await cursor.fetchall() if cursor.description else []
                return cursor.rowcount, rows
            except psycopg.OperationalError as error:
                if connection.closed:  # the server went away, most likely for all of them
                    self.discard_idle()
                if loop.time() >= deadline:
                    raise TimeoutError from error
                raise
            finally:
                watchdog.cancel()
                self._give_back(connection)
        finally:
            self._release()

    async def _take(self) -> psycopg.AsyncConnection:
        if self._idle:
            return self._idle.pop()
        return await psycopg.AsyncConnection.connect(**self._params)

    def _give_back(self, connection: psycopg.AsyncConnection) -> None:
        # An SQL error leaves an autocommit connection idle and usable; a broken or
        # abandoned (cancelled mid-statement) one is closed.
        if connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            self._idle.append(connection)
        else:
            connection.pgconn.finish()

    async def _acquire(self) -> None:
        if self._busy < self._size and not self._waiters:
            self._busy += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter  # resolved by _release, which hands its slot over
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # handed a slot just as the wait was given up
            else:
                self._waiters.remove(waiter)
            raise

    def _release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._busy -= 1

    def discard_idle(self) -> None:
        _finish(self._idle)


def _shut_down(connection: psycopg.AsyncConnection) -> None:
    """End the connection's socket (the descriptor stays open until ``finish``)."""
    with contextlib.suppress(OSError), socket.socket(fileno=os.dup(connection.fileno())) as sock:
        sock.shutdown(socket.SHUT_RDWR)


def _finish(connections: list[psycopg.AsyncConnection]) -> None:
    # ``AsyncConnection.close`` does no more than this, without needing a loop.
    while connections:
        connection = connections.pop()  # kept until closed, or psycopg warns it was not
        connection.pgconn.finish()


class LoopPools:
    """A ``Pool`` per running event loop, each of ``size`` connections, every call
    bounded by ``timeout`` seconds."""

    def __init__(self, params: dict[str, Any], timeout: float, size: int = POOL_SIZE) -> None:
        self.params = params
        self.timeout = timeout
        self.size = size
        self._pools: PerLoop[Pool] = PerLoop(lambda: Pool(self.params, self.size))

    async def execute(
        self, sql: str, params: Callable[[psycopg.AsyncConnection], list[Any]]
    ) -> tuple[int, list[tuple]]:
        try:
            return await self._pools.get().execute(sql, params, self.timeout)
        except psycopg.Error as error:
            raise django_error(error) from error
        except asyncio.TimeoutError as error:
            raise utils.OperationalError(
                f"PostgreSQL did not answer within {self.timeout:g} s (the store's timeout)"
            ) from error

    def close(self) -> None:
        """Close the idle connections of every loop (those in use are closed with their
        pool, which is no longer listed)."""
        for pool in self._pools.close():
            pool.discard_idle()
