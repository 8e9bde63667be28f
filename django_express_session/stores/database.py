"""Sessions in a database table, in connect-pg-simple's layout.

One row per session in ``"session"(sid varchar PRIMARY KEY, sess json, expire
timestamp(6))``, as connect-pg-simple's table.sql: ``sess`` is the express JSON text,
verbatim, and ``expire`` is the store-level expiry, which every read filters on (the
inner ``cookie.expires`` goes stale after a touch, as in connect-pg-simple). The table
is made by this app's migration, or, for another ``tableName``/``schemaName``, by
``createTableIfMissing``. On PostgreSQL an Express app with connect-pg-simple 7+ and
this app share the table; the store works the same on SQLite and MySQL/MariaDB.

Expiry is connect-pg-simple 7+'s: ``cookie.expires`` rounded *up* to the second, else
now + ``ttl``. On PostgreSQL the column has no time zone, so the wall-clock time it
holds depends on the writer's session ``TimeZone``: connect-pg-simple writes
``to_timestamp(n)`` under the server's default zone (node-postgres sets none), while
Django pins its connections to UTC. Every point in time this store writes or compares
is therefore ``to_timestamp(n) AT TIME ZONE <the database's default TimeZone>``, the
wall-clock time Node writes and compares against, whatever the server's zone is.

Writes are safe under concurrency: ``create`` inserts only if the id is free (or holds
an expired row), ``replace`` is an ``UPDATE ... WHERE sess = <the text read>`` checked
by its row count, and nothing here brings back a deleted or expired row.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from django.conf import settings
from django.db import (
    DatabaseError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connections,
    transaction,
)

from ..exceptions import CreateError
from ..record import Record, dumps, loads
from .base import Store, Versioned, check_bool, check_number, check_str, option_error

#: Rows deleted per statement by ``prune``: each batch is its own short transaction.
PRUNE_BATCH = 10_000

# The zone a node-postgres pool's session gets: the database's default, before Django's
# ``SET TimeZone``. ``reset_val`` is what ``RESET TimeZone`` would restore.
_SERVER_TIME_ZONE = "SELECT reset_val FROM pg_settings WHERE name = 'TimeZone'"


def _server_time_zone(connection) -> str:
    """The default ``TimeZone`` of the PostgreSQL connection's database, looked up once
    per connection (a session's default cannot change while it lasts)."""
    connection.ensure_connection()
    known = getattr(connection, "_express_session_time_zone", None)
    if known is not None and known[0] is connection.connection:
        return known[1]
    with connection.cursor() as cursor:
        cursor.execute(_SERVER_TIME_ZONE)
        zone = cursor.fetchone()[0]
    connection._express_session_time_zone = (connection.connection, zone)
    return zone


class DatabaseStore(Store):
    """connect-pg-simple's table through a Django database connection."""

    name = "database"
    connection_errors = (OperationalError, InterfaceError)
    # Django database connections belong to a thread: async callers use Django's own.
    thread_sensitive = True

    #: Vendors whose ``INSERT ... ON CONFLICT`` can create-if-free and upsert in one
    #: statement; others use ``ON DUPLICATE KEY`` (MySQL) or a transaction.
    on_conflict_vendors = frozenset({"postgresql", "sqlite"})

    def __init__(
        self,
        *,
        alias: str = "default",
        tableName: str = "session",
        schemaName: str | None = None,
        ttl: int | float = 86400,
        createTableIfMissing: bool = False,
        pruneSessionInterval: int | float | bool = 900,
        pruneSessionRandomizedInterval: bool = True,
        disableTouch: bool = False,
    ) -> None:
        self.alias = check_str(self.name, "alias", alias)
        if alias not in connections.settings:
            raise option_error(
                self.name, "alias", f"names no DATABASES entry ({sorted(connections.settings)})"
            )
        self.table_name = check_str(self.name, "tableName", tableName)
        self.schema_name = (
            None if schemaName is None else check_str(self.name, "schemaName", schemaName)
        )
        self.ttl = check_number(self.name, "ttl", ttl, minimum=1)
        self.create_table = check_bool(self.name, "createTableIfMissing", createTableIfMissing)
        # Django has no timers: expired rows are invisible to every read, and deleting
        # them is ``manage.py clearsessions`` (run it from cron at this interval). The
        # options are accepted so a connect-pg-simple configuration can be copied.
        if pruneSessionInterval is not False:
            check_number(self.name, "pruneSessionInterval", pruneSessionInterval, minimum=1)
        self.prune_interval = pruneSessionInterval
        check_bool(self.name, "pruneSessionRandomizedInterval", pruneSessionRandomizedInterval)
        self.disable_touch = check_bool(self.name, "disableTouch", disableTouch)
        vendor = connections[alias].vendor
        if self.create_table and self.schema_name and vendor != "postgresql":
            raise option_error(
                self.name,
                "createTableIfMissing",
                f"cannot create a table in schemaName {schemaName!r} on {vendor}; "
                "create it yourself or drop schemaName",
            )
        self._table_ready = not self.create_table

    # -- SQL pieces ---------------------------------------------------------------------

    @property
    def _connection(self):
        return connections[self.alias]

    def _table(self, connection) -> str:
        quote = connection.ops.quote_name
        table = quote(self.table_name)
        return f"{quote(self.schema_name)}.{table}" if self.schema_name else table

    @staticmethod
    def _at(connection) -> str:
        """SQL for a point in time, given as unix seconds (one parameter)."""
        if connection.vendor == "postgresql":
            zone = _server_time_zone(connection).replace("'", "''")
            return f"(to_timestamp(%s) AT TIME ZONE '{zone}')"
        return "%s"

    @staticmethod
    def _moment(connection, seconds: int) -> Any:
        """The parameter ``_at`` takes for ``seconds``."""
        if connection.vendor == "postgresql":
            return seconds
        moment = datetime.fromtimestamp(seconds, timezone.utc)
        if not settings.USE_TZ:
            moment = moment.replace(tzinfo=None)
        return connection.ops.adapt_datetimefield_value(moment)

    @staticmethod
    def _sess(connection) -> str:
        # The json column as the exact text stored (psycopg would decode it).
        return "sess::text" if connection.vendor == "postgresql" else "sess"

    @staticmethod
    def _same_text(connection) -> str:
        """SQL comparing ``sess`` with a parameter, byte for byte."""
        if connection.vendor == "postgresql":
            return "sess::text = %s"
        if connection.vendor == "mysql":  # its default collations ignore case
            return "CAST(sess AS BINARY) = CAST(%s AS BINARY)"
        return "sess = %s"

    def _now(self, connection) -> Any:
        # connect-pg-simple compares with ceil(Date.now() / 1000).
        return self._moment(connection, math.ceil(time.time()))

    def _expire(self, connection, session: Record) -> Any:
        """connect-pg-simple 7+: ``cookie.expires`` rounded up to the second, else now +
        ``ttl``."""
        return self._moment(connection, math.ceil(self.expires_at_ms(session, self.ttl) / 1000))

    def _execute(self, sql: str, params: list[Any]) -> tuple[int, list[tuple]]:
        """Run one statement on the alias; its row count and rows."""
        connection = self._connection
        if not self._table_ready:
            self._ensure_table(connection)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall() if cursor.description else []
            return cursor.rowcount, rows

    # -- express's store methods ----------------------------------------------------------

    def get(self, sid: str) -> Record | None:
        found = self.read(sid)
        return None if found is None else found.record

    def read(self, sid: str, *, touch: bool = False) -> Versioned | None:
        c = self._connection
        sql = f"SELECT {self._sess(c)} FROM {self._table(c)} WHERE sid = %s AND expire >= {self._at(c)}"
        _, rows = self._execute(sql, [sid, self._now(c)])
        if not rows:
            return None
        text = rows[0][0]
        return Versioned(loads(text), version=text)

    def set(self, sid: str, session: Record) -> None:
        c = self._connection
        table, at = self._table(c), self._at(c)
        params = [sid, dumps(session), self._expire(c, session)]
        if c.vendor in self.on_conflict_vendors:
            self._execute(
                f"INSERT INTO {table} (sid, sess, expire) VALUES (%s, %s, {at}) "
                "ON CONFLICT (sid) DO UPDATE SET sess = excluded.sess, expire = excluded.expire",
                params,
            )
        elif c.vendor == "mysql":
            self._execute(
                f"INSERT INTO {table} (sid, sess, expire) VALUES (%s, %s, {at}) "
                "ON DUPLICATE KEY UPDATE sess = VALUES(sess), expire = VALUES(expire)",
                params,
            )
        else:
            self._set_portably(c, *params)

    def _set_portably(self, c, sid: str, text: str, expire: Any) -> None:
        table, at = self._table(c), self._at(c)
        with transaction.atomic(using=self.alias):
            updated, _ = self._execute(
                f"UPDATE {table} SET sess = %s, expire = {at} WHERE sid = %s", [text, expire, sid]
            )
            if not updated:
                self._execute(
                    f"INSERT INTO {table} (sid, sess, expire) VALUES (%s, %s, {at})",
                    [sid, text, expire],
                )

    def destroy(self, sid: str) -> None:
        self._execute(f"DELETE FROM {self._table(self._connection)} WHERE sid = %s", [sid])

    def touch(self, sid: str, session: Record) -> None:
        """Move ``expire`` only, as connect-pg-simple; an expired row stays expired."""
        if self.disable_touch:
            return
        c = self._connection
        at = self._at(c)
        self._execute(
            f"UPDATE {self._table(c)} SET expire = {at} WHERE sid = %s AND expire >= {at}",
            [self._expire(c, session), sid, self._now(c)],
        )

    def all(self) -> dict[str, Record]:
        c = self._connection
        _, rows = self._execute(
            f"SELECT sid, {self._sess(c)} FROM {self._table(c)} WHERE expire >= {self._at(c)}",
            [self._now(c)],
        )
        return {sid: loads(text) for sid, text in rows}

    def length(self) -> int:
        c = self._connection
        _, rows = self._execute(
            f"SELECT COUNT(*) FROM {self._table(c)} WHERE expire >= {self._at(c)}", [self._now(c)]
        )
        return rows[0][0]

    def clear(self) -> None:
        self._execute(f"DELETE FROM {self._table(self._connection)}", [])

    def prune(self, *, dry_run: bool = False, progress: Callable[[int], None] | None = None) -> int:
        """Delete expired rows ``PRUNE_BATCH`` at a time, oldest first through the
        ``expire`` index, each batch its own statement (and, outside a transaction, its
        own commit): no transaction spans the table and no lock is held for long."""
        c = self._connection
        table = self._table(c)
        # The cut-off as a constant, evaluated once: the planner then sees a value it can
        # estimate, and every batch agrees on what "expired" means.
        _, rows = self._execute(f"SELECT {self._at(c)}", [self._now(c)])
        cutoff = rows[0][0]
        if dry_run:
            _, rows = self._execute(f"SELECT COUNT(*) FROM {table} WHERE expire < %s", [cutoff])
            if progress:
                progress(rows[0][0])
            return rows[0][0]
        oldest = f"WHERE expire < %s ORDER BY expire {c.ops.limit_offset_sql(0, PRUNE_BATCH)}"
        if c.vendor == "mysql":  # no LIMIT inside IN (...), but DELETE takes one
            batch = f"DELETE FROM {table} {oldest}"
        elif c.vendor == "postgresql":  # by row address: no join over the table
            batch = (
                f"DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table} {oldest})) "
                "AND expire < %s"
            )
        else:
            batch = f"DELETE FROM {table} WHERE sid IN (SELECT sid FROM {table} {oldest}) AND expire < %s"
        # The outer ``expire < %s`` spares a row touched between the two halves.
        params = [cutoff] if c.vendor == "mysql" else [cutoff, cutoff]
        removed = 0
        while True:
            deleted, _ = self._execute(batch, params)
            removed += deleted
            if deleted and progress:
                progress(removed)
            if deleted < PRUNE_BATCH:
                return removed

    # -- safe writes ----------------------------------------------------------------------

    def create(self, sid: str, session: Record) -> None:
        c = self._connection
        table, at = self._table(c), self._at(c)
        text, expire, now = dumps(session), self._expire(c, session), self._now(c)
        if c.vendor in self.on_conflict_vendors:
            # Inserts, or takes over an expired row (not yet pruned); else changes nothing.
            created, _ = self._execute(
                f"INSERT INTO {table} AS stored (sid, sess, expire) VALUES (%s, %s, {at}) "
                "ON CONFLICT (sid) DO UPDATE SET sess = excluded.sess, expire = excluded.expire "
                f"WHERE stored.expire < {at}",
                [sid, text, expire, now],
            )
            if created != 1:
                raise CreateError(sid)
            return
        # Insert first, and look for an expired row only when the id is taken: a
        # lookup of an absent key would take a gap lock on InnoDB under REPEATABLE READ,
        # and two new sessions falling in one gap would then deadlock on their inserts.
        if self._insert(table, at, [sid, text, expire]):
            return
        deleted, _ = self._execute(
            f"DELETE FROM {table} WHERE sid = %s AND expire < {at}", [sid, now]
        )
        if not (deleted and self._insert(table, at, [sid, text, expire])):
            raise CreateError(sid)

    def _insert(self, table: str, at: str, params: list[Any]) -> bool:
        """Insert a row; False if its id is taken."""
        try:
            # A savepoint, so a refused insert leaves an outer transaction usable.
            with transaction.atomic(using=self.alias):
                self._execute(
                    f"INSERT INTO {table} (sid, sess, expire) VALUES (%s, %s, {at})", params
                )
        except IntegrityError:
            return False
        return True

    def replace(self, sid: str, session: Record, version: Any) -> bool:
        """Write only if ``sess`` still holds the text read (``version``) and the row has
        not expired: the row count says whether it did."""
        if version is None:
            return False
        c = self._connection
        at = self._at(c)
        updated, _ = self._execute(
            f"UPDATE {self._table(c)} SET sess = %s, expire = {at} "
            f"WHERE sid = %s AND {self._same_text(c)} AND expire >= {at}",
            [dumps(session), self._expire(c, session), sid, version, self._now(c)],
        )
        return updated == 1

    # -- the table ------------------------------------------------------------------------

    def _ensure_table(self, connection) -> None:
        """``createTableIfMissing``: make the table the first time it is needed."""
        self._table_ready = True  # _execute below must not come back here
        try:
            if not self._table_exists(connection):
                with transaction.atomic(using=self.alias):
                    for statement in self._table_ddl(connection):
                        self._execute(statement, [])
        except DatabaseError:
            self._table_ready = False
            if not self._table_exists(connection):  # else another process made it first
                raise

    def _table_exists(self, connection) -> bool:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT to_regclass(%s)", [self._table(connection)])
                return cursor.fetchone()[0] is not None
        with connection.cursor() as cursor:
            return self.table_name in connection.introspection.table_names(cursor)

    def _table_ddl(self, connection) -> list[str]:
        from ..models import ExpressSession

        quote = connection.ops.quote_name
        table = self._table(connection)
        default = self.table_name == "session"
        index = quote("IDX_session_expire" if default else f"IDX_{self.table_name}_expire")
        if connection.vendor == "postgresql":
            # connect-pg-simple's table.sql (its constraint and index names would clash
            # between two tables of one schema, so another table gets its own).
            primary_key = quote("session_pkey" if default else f"{self.table_name}_pkey")
            return [
                f'CREATE TABLE {table} ("sid" varchar NOT NULL COLLATE "default", '
                '"sess" json NOT NULL, "expire" timestamp(6) NOT NULL)',
                f'ALTER TABLE {table} ADD CONSTRAINT {primary_key} PRIMARY KEY ("sid") '
                "NOT DEFERRABLE INITIALLY IMMEDIATE",
                f'CREATE INDEX {index} ON {table} ("expire")',
            ]
        column = {field.column: field.db_type(connection) for field in ExpressSession._meta.fields}
        return [
            f"CREATE TABLE {table} (sid {column['sid']} NOT NULL PRIMARY KEY, "
            f"sess {column['sess']} NOT NULL, expire {column['expire']} NOT NULL)",
            f"CREATE INDEX {index} ON {table} (expire)",
        ]

    # -- async ----------------------------------------------------------------------------
