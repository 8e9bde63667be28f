"""The database store's statements as operations of its plans, and the database's own
time zone (in which connect-pg-simple's ``expire`` is written and compared): each path
that runs a statement (Django's connection, the asyncio pool) puts in the zone of its
connection for ``ZONE``."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from ..core.ops import Op, Plan

# The zone a node-postgres pool's session gets: the database's default, before Django's
# ``SET TimeZone``. ``reset_val`` is what ``RESET TimeZone`` would restore.
_SERVER_TIME_ZONE = "SELECT reset_val FROM pg_settings WHERE name = 'TimeZone'"

# The default ``TimeZone`` of each DB-API connection Django opened, looked up once per
# connection (a session's default does not change while it lasts).
_zones: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def server_time_zone(connection) -> str:
    """The database's default ``TimeZone``, seen from a Django connection (Django has
    set the session's own zone to UTC: ``reset_val`` still says the default)."""
    connection.ensure_connection()
    zone = _zones.get(connection.connection)
    if zone is None:
        with connection.cursor() as cursor:
            cursor.execute(_SERVER_TIME_ZONE)
            zone = _zones[connection.connection] = cursor.fetchone()[0]
    return zone


def reported_time_zone(connection) -> str:
    """The same, seen from a connection of the asyncio pool, which never sets a zone:
    the server reports the session's ``TimeZone`` at connect time."""
    return connection.info.parameter_status("TimeZone")


def expire_ms(value: Any) -> int | None:
    """An ``expire`` as read back: epoch seconds (PostgreSQL), or the UTC datetime (or
    its text, on SQLite) Django wrote."""
    if value is None:
        return None
    if isinstance(value, (int, float, Decimal)):
        return int(float(value) * 1000)
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return int(value.timestamp() * 1000)


class _Zone:
    def __repr__(self) -> str:
        return "ZONE"


#: Stands for the database's default ``TimeZone`` among a statement's parameters; the
#: path running the statement puts in the zone of its connection.
ZONE = _Zone()

Result = tuple[int, list[tuple]]
#: A store method written once: it yields its statements and receives their results.
Statements = Plan[Any]


@dataclass(frozen=True, slots=True)
class Statement(Op):
    """The operation of running one statement (``%s`` placeholders on every path)."""

    sql: str
    params: tuple[Any, ...] = ()
    #: On Django's connection, run in a savepoint (so a refused insert leaves an outer
    #: transaction usable); the asyncio pool's connections autocommit every statement.
    savepoint: bool = False
    #: On Django's connection inside an atomic block, the statement to run instead (a
    #: touching read's lock on the row would last until the transaction ends, and a
    #: rollback would undo its touch); None: this one everywhere.
    in_transaction: Statement | None = None

    def bind(self, zone: Callable[[], str]) -> list[Any]:
        """The parameters, with ``ZONE`` replaced by ``zone()`` (called only if used)."""
        if not any(param is ZONE for param in self.params):
            return list(self.params)
        name = zone()
        return [name if param is ZONE else param for param in self.params]


def sql(
    text: str, *params: Any, savepoint: bool = False, in_transaction: Statement | None = None
) -> Statement:
    return Statement(text, params, savepoint, in_transaction)
