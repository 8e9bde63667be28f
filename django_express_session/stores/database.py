"""Sessions in a database table, in connect-pg-simple's layout.

One row per session in ``"session"(sid varchar PRIMARY KEY, sess json, expire
timestamp(6))``, connect-pg-simple's ``table.sql``: ``sess`` is the express JSON text,
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
by its row count, and nothing here brings back a deleted or expired row. On
PostgreSQL a read that express would follow with a touch does both in one ``UPDATE ...
RETURNING`` for the rows that carry the configured ``maxAge`` (``_prepare_touching_read``).

Each method is written once, as a plan of its statements (``_read``, ``_create``...,
see ``base.PlanStore``); the store performs a ``Statement`` on one of two paths: Django's
connection of the alias (sync code; async code on other databases, in Django's shared
thread), or, in async code on PostgreSQL with psycopg 3, an asyncio pool of the store's
own built from the same alias's settings (``_pg_async``): no thread, autocommit, each
call bounded by the ``timeout`` option. The SQL and its parameters are the same on both paths; only the
database's default zone is put in by the path, for the connection it runs on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from typing import Any, ClassVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import (
    DatabaseError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connections,
    transaction,
)

from ..core.ops import Op, Plan
from ..exceptions import CorruptRecord, CreateError
from ..owner import Owner
from ..record import Record, dumps, loads, now_ms
from ..validation import (
    StoreOptions,
    check_bool,
    check_number,
    check_str,
    number,
    option,
    option_error,
    string,
)
from . import _user_index
from ._statements import (
    ZONE,
    Result,
    Statement,
    Statements,
    expire_ms,
    reported_time_zone,
    server_time_zone,
    sql,
)
from .base import PlanStore, Versioned
from .resources import Lazy

#: What the advisory lock of a user's session limit is named after (with the user's
#: ``Owner.lock_term``); the npm package names it alike.
LIMIT_LOCK_PREFIX = "django-express-session limit "

#: Rows deleted per statement by ``prune``: each batch is its own short transaction.
PRUNE_BATCH = 10_000

#: The longest ``maxAge`` a read touches by (about 1,000 years): now plus it stays far
#: from the year 9999, where the cookie's expiry would be clamped.
TOUCHING_READ_MAX_AGE_MS = 1000 * 365 * 86_400_000


def _database_alias(store: str, key: str, value: Any) -> str:
    alias = check_str(store, key, value)
    if alias not in connections.settings:
        raise option_error(store, key, f"names no DATABASES entry ({sorted(connections.settings)})")
    return alias


def _prune_interval(store: str, key: str, value: Any) -> Any:
    return value if value is False else check_number(store, key, value, minimum=1)


@dataclass(frozen=True, slots=True)
class DatabaseOptions(StoreOptions):
    """connect-pg-simple's options, and the Django database.

    ``pruneSessionInterval`` and ``pruneSessionRandomizedInterval`` are checked and
    accepted, so that a connect-pg-simple configuration can be copied, but start no
    timer: expired rows are invisible to every read, and deleting them is ``manage.py
    clearsessions`` (run it from cron at that interval).

    ``timeout`` (seconds, default 1) bounds every call of the asyncio pool on
    PostgreSQL: waiting for a connection, connecting (``connect_timeout``) and the
    statement (``statement_timeout`` on the server, and the client stops waiting), so
    an outage is a prompt 503. Calls through Django's connection (sync code, and other
    databases) are governed by the alias's own ``OPTIONS`` instead, e.g.
    ``{"connect_timeout": 2, "options": "-c statement_timeout=1000"}``."""

    store: ClassVar[str] = "database"

    alias: str = option("alias", _database_alias, default="default")
    table_name: str = option("tableName", string(), default="session")
    schema_name: str | None = option("schemaName", string(allow_none=True), default=None)
    ttl: float = option("ttl", number(minimum=1), default=86400)
    create_table_if_missing: bool = option("createTableIfMissing", check_bool, default=False)
    prune_session_interval: float | bool = option(
        "pruneSessionInterval", _prune_interval, default=900, ignored=True
    )
    prune_session_randomized_interval: bool = option(
        "pruneSessionRandomizedInterval", check_bool, default=True, ignored=True
    )
    disable_touch: bool = option("disableTouch", check_bool, default=False)
    timeout: float = option("timeout", number(minimum=0.001), default=1)

    def check(self) -> None:
        vendor = connections[self.alias].vendor
        if self.create_table_if_missing and self.schema_name and vendor != "postgresql":
            raise option_error(
                self.store,
                "createTableIfMissing",
                f"cannot create a table in schemaName {self.schema_name!r} on {vendor}; "
                "create it yourself or drop schemaName",
            )


class DatabaseStore(PlanStore):
    """connect-pg-simple's table through a Django database connection, and on
    PostgreSQL, in async code, through an asyncio pool of its own."""

    name = "database"
    #: On PostgreSQL, for a record with the configured ``maxAge`` (``read_touch_ms``).
    touches_on_read: ClassVar[bool] = True
    connection_errors = (OperationalError, InterfaceError)
    #: Without native asyncio, async code reaches Django's connections in Django's
    #: shared thread, where they live.
    thread_sensitive = True

    #: Vendors whose ``INSERT ... ON CONFLICT`` can create-if-free in one statement;
    #: others insert, and on a taken id delete an expired row and insert again.
    on_conflict_vendors = frozenset({"postgresql", "sqlite"})

    Options = DatabaseOptions
    options: DatabaseOptions

    def _setup(self) -> None:
        options = self.options
        self.alias = options.alias
        self.table_name = options.table_name
        self.timeout = options.timeout
        connection = connections[self.alias]
        self.vendor = connection.vendor
        self._table_ready = not self.options.create_table_if_missing
        #: On MySQL/MariaDB, whether the table has the user key columns (looked up once).
        self._user_columns: bool | None = None
        self._pools: Lazy[Any] | None = None
        self._prepare(connection)
        #: The ``maxAge`` by which a touching read refreshes a record in its own statement
        #: (None: a read only reads, and the session touches at the end of the request).
        self.read_touch_ms = self._read_touch_ms()

    def _prepare(self, connection: Any) -> None:
        """The SQL pieces, the same on every path, and the asyncio pools' maker."""
        vendor = self.vendor
        quote = connection.ops.quote_name
        table = quote(self.table_name)
        #: The table, quoted (and qualified by its schema).
        self.table = (
            f"{quote(self.options.schema_name)}.{table}" if self.options.schema_name else table
        )
        postgres = vendor == "postgresql"
        #: A point in time: the parameters of ``point(seconds)``.
        self.at = "(to_timestamp(%s) AT TIME ZONE %s)" if postgres else "%s"
        # The json column as the exact text stored (psycopg would decode it).
        self.sess = "sess::text" if postgres else "sess"
        #: The ``expire`` column as a point in time (epoch seconds on PostgreSQL, where it
        #: is a wall-clock time of the database's default zone; a UTC datetime elsewhere).
        self.expire_read = "extract(epoch from (expire AT TIME ZONE %s))" if postgres else "expire"
        self.expire_read_params: tuple[Any, ...] = (ZONE,) if postgres else ()
        if postgres:
            self.same_text = "sess::text = %s"
        elif vendor == "mysql":  # its default collations ignore case
            self.same_text = "CAST(sess AS BINARY) = CAST(%s AS BINARY)"
        else:
            self.same_text = "sess = %s"
        #: The live row of ``sid``: its text and ``expire`` (parameters: ``read_params``).
        self.read_sql = (
            f"SELECT {self.sess}, {self.expire_read} FROM {self.table} "
            f"WHERE sid = %s AND expire >= {self.at}"
        )
        if postgres:
            self._prepare_touching_read()
            from django.db.backends.postgresql.psycopg_any import is_psycopg3

            if is_psycopg3:
                self._pools = Lazy(self._open_pools, lambda pools: pools.close())

    def _prepare_touching_read(self) -> None:
        """A read that touches in the same statement, on PostgreSQL: express's touch at
        the end of the request, done at its start. The touch resets ``cookie.expires`` to
        now + ``originalMaxAge``, so a row whose stored ``cookie.originalMaxAge`` is the
        configured ``maxAge`` gets ``expire`` = ceil((now + maxAge) / 1000) s, the value
        the store's ``touch`` would write; any other row keeps its ``expire`` and is
        reported untouched (the session then touches it at the end, by the record). The
        third column says which: the same test on the same ``sess``, which the statement
        does not change. An expired row is not updated, hence not read."""
        field = "sess::json -> 'cookie'"
        #: The stored ``cookie.originalMaxAge`` is the number %s (never a cast of a
        #: string: ``CASE`` decides before the cast is evaluated).
        carries = (
            f"(CASE WHEN json_typeof({field} -> 'originalMaxAge') = 'number' "
            f"THEN ({field} ->> 'originalMaxAge')::numeric = %s ELSE false END)"
        )
        self.touching_read_sql = (
            f"UPDATE {self.table} SET expire = CASE WHEN {carries} THEN {self.at} "
            f"ELSE expire END WHERE sid = %s AND expire >= {self.at} "
            f"RETURNING {self.sess}, {self.expire_read}, {carries}"
        )
        #: The same read without the touch, for inside a transaction (``Statement``).
        self.untouching_read_sql = (
            f"SELECT {self.sess}, {self.expire_read}, false FROM {self.table} "
            f"WHERE sid = %s AND expire >= {self.at}"
        )

    def _read_touch_ms(self) -> int | None:
        """The configured ``maxAge`` (ms) if a read may touch the rows that carry it
        (``_prepare_touching_read``); None on other databases, with touching off, with
        ``touchAfter`` or ``absoluteMaxAge`` (which decide by the record what a touch
        writes, or whether it happens), or without a positive ``maxAge`` short enough for
        every clock (the cookie's expiry is clamped to the year 9999 beyond)."""
        lifetime = self.lifetime
        max_age = lifetime.max_age_ms
        if (
            self.vendor != "postgresql"
            or self.options.disable_touch
            or lifetime.touch_after_ms
            or lifetime.absolute_max_age_ms is not None
            or max_age is None
            or not 0 < max_age <= TOUCHING_READ_MAX_AGE_MS
        ):
            return None
        return max_age

    @property
    def native_async(self) -> bool:
        """On PostgreSQL with psycopg 3, async code has a connection pool of its own."""
        return self._pools is not None

    def close(self) -> None:
        if self._pools is not None:
            self._pools.reset()

    # -- points in time -------------------------------------------------------------------

    def point(self, seconds: int) -> tuple[Any, ...]:
        """The parameters of ``at`` for ``seconds`` since the epoch.

        On PostgreSQL, ``to_timestamp(n) AT TIME ZONE <the database's default zone>``:
        the wall-clock time connect-pg-simple writes and compares against. Elsewhere a
        datetime, as Django stores one for a ``DateTimeField``."""
        if self.vendor == "postgresql":
            return (seconds, ZONE)
        moment = datetime.fromtimestamp(seconds, timezone.utc)
        if not settings.USE_TZ:
            moment = moment.replace(tzinfo=None)
        return (connections[self.alias].ops.adapt_datetimefield_value(moment),)

    def _now(self) -> tuple[Any, ...]:
        # connect-pg-simple compares with ceil(Date.now() / 1000).
        return self.point(math.ceil(now_ms() / 1000))

    def _expire(self, session: Record) -> tuple[Any, ...]:
        """connect-pg-simple 7+: ``cookie.expires`` rounded up to the second, else now +
        ``ttl``."""
        return self.point(math.ceil(self.expires_at_ms(session, self.options.ttl) / 1000))

    # -- running statements ---------------------------------------------------------------

    def _execute(self, statement: Statement) -> Result:
        """Run one statement on Django's connection of the alias."""
        connection = connections[self.alias]
        if statement.in_transaction is not None and connection.in_atomic_block:
            statement = statement.in_transaction
        if not self._table_ready:
            self._ensure_table()
        savepoint = transaction.atomic(using=self.alias) if statement.savepoint else nullcontext()
        with savepoint, connection.cursor() as cursor:
            cursor.execute(statement.sql, statement.bind(partial(server_time_zone, connection)))
            return cursor.rowcount, cursor.fetchall() if cursor.description else []

    async def _aexecute(self, statement: Statement) -> Result:
        """Run one statement on a connection of the running loop's pool."""
        if not self._table_ready:  # once: createTableIfMissing, through Django's connection
            await sync_to_async(self._ensure_table, thread_sensitive=True)()
        return await self._pools.get().execute(
            statement.sql,
            lambda connection: statement.bind(partial(reported_time_zone, connection)),
        )

    def _open_pools(self):
        from ._pg_async import LoopPools, connection_params

        params = connection_params(connections[self.alias], self.timeout)
        return LoopPools(params, self.timeout)

    @contextmanager
    def limit_lock(self, owner: Owner) -> Iterator[None]:
        """One transaction for ``trim_sessions``; on PostgreSQL it first takes a
        transaction-level advisory lock named by the user (the npm package takes the
        same one), so two logins' trims run one after the other. Elsewhere the
        transaction alone: SQLite has one writer at a time, MariaDB/MySQL no lock."""
        with transaction.atomic(using=self.alias):
            if self.vendor == "postgresql":
                with connections[self.alias].cursor() as cursor:
                    cursor.execute(
                        "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                        [LIMIT_LOCK_PREFIX + owner.lock_term()],
                    )
            yield

    def _perform_own(self, op: Op) -> Any:
        match op:
            case Statement():
                return self._execute(op)
        return super()._perform_own(op)

    async def _perform_own_async(self, op: Op) -> Any:
        match op:
            case Statement():
                return await self._aexecute(op)
        return await super()._perform_own_async(op)

    # -- the statements -------------------------------------------------------------------

    def _read(self, sid: str, touch: bool) -> Statements:
        max_age = self.read_touch_ms if touch else None
        if max_age is None:
            _, rows = yield sql(self.read_sql, *self.expire_read_params, sid, *self._now())
            if not rows:
                return None
            text, expire = rows[0]
            return Versioned(loads(text), version=text, expires_at=expire_ms(expire))
        now = now_ms()
        fresh = math.ceil((now + max_age) / 1000)
        where = (sid, *self.point(math.ceil(now / 1000)))
        _, rows = yield sql(
            self.touching_read_sql,
            *(max_age, *self.point(fresh), *where, ZONE, max_age),
            in_transaction=sql(self.untouching_read_sql, ZONE, *where),
        )
        if not rows:
            return None
        text, expire, touched = rows[0]
        return Versioned(loads(text), version=text, touched=touched, expires_at=expire_ms(expire))

    def fresh_expiry(self, session: Record) -> int:
        """The ``expire`` a write or touch now gives (rounded up to the second)."""
        return math.ceil(self.expires_at_ms(session, self.options.ttl) / 1000) * 1000

    def _create(self, sid: str, session: Record) -> Statements:
        """Insert only if the id is free or holds an expired row (not yet pruned)."""
        text, expire, now = dumps(session), self._expire(session), self._now()
        if self.vendor in self.on_conflict_vendors:
            created, _ = yield sql(
                f"INSERT INTO {self.table} AS stored (sid, sess, expire) "
                f"VALUES (%s, %s, {self.at}) ON CONFLICT (sid) DO UPDATE "
                f"SET sess = excluded.sess, expire = excluded.expire WHERE stored.expire < {self.at}",
                *(sid, text, *expire, *now),
            )
            if created != 1:
                raise CreateError(sid)
            return
        # Insert first, and look for an expired row only when the id is taken: a
        # lookup of an absent key would take a gap lock on InnoDB under REPEATABLE READ,
        # and two new sessions falling in one gap would then deadlock on their inserts.
        if (yield from self._insert(sid, text, expire)):
            return
        deleted, _ = yield sql(
            f"DELETE FROM {self.table} WHERE sid = %s AND expire < {self.at}", sid, *now
        )
        if not (deleted and (yield from self._insert(sid, text, expire))):
            raise CreateError(sid)

    def _insert(self, sid: str, text: str, expire: tuple[Any, ...]) -> Statements:
        """Insert a row; False if its id is taken."""
        try:
            yield sql(
                f"INSERT INTO {self.table} (sid, sess, expire) VALUES (%s, %s, {self.at})",
                *(sid, text, *expire),
                savepoint=True,
            )
        except IntegrityError:
            return False
        return True

    def _replace(self, sid: str, session: Record, version: Any) -> Statements:
        """Write only if ``sess`` still holds the text read (``version``) and the row has
        not expired: the row count says whether it did."""
        if version is None:
            return False
        updated, _ = yield sql(
            f"UPDATE {self.table} SET sess = %s, expire = {self.at} "
            f"WHERE sid = %s AND {self.same_text} AND expire >= {self.at}",
            *(dumps(session), *self._expire(session), sid, version, *self._now()),
        )
        return updated == 1

    def _destroy(self, sid: str) -> Statements:
        yield sql(f"DELETE FROM {self.table} WHERE sid = %s", sid)

    def _touch(self, sid: str, session: Record) -> Statements:
        """Move ``expire`` only, as connect-pg-simple; an expired row stays expired."""
        if self.options.disable_touch:
            return
        yield sql(
            f"UPDATE {self.table} SET expire = {self.at} WHERE sid = %s AND expire >= {self.at}",
            *(*self._expire(session), sid, *self._now()),
        )

    def _all(self) -> Statements:
        _, rows = yield sql(
            f"SELECT sid, {self.sess} FROM {self.table} WHERE expire >= {self.at}", *self._now()
        )
        return {sid: loads(text) for sid, text in rows}

    def _sessions_of(self, owner: Owner, thorough: bool) -> Statements:
        """The owner's live rows through the user key index (``_user_index``): only
        those rows are read. Without an index to use, every live row is read and
        matched here."""
        lookup = yield from self._user_lookup()
        terms = None
        if lookup is not None:
            terms = _user_index.lookup_terms(owner, mariadb=self.vendor == "mysql")
        if terms is None:
            return self.owned_live(owner, (yield from self._all()).items())
        if not terms:
            return {}
        matches = " OR ".join(f"{lookup[key]} = %s" for key, _ in terms)
        _, rows = yield sql(
            f"SELECT sid, {self.sess} FROM {self.table} WHERE ({matches}) AND expire >= {self.at}",
            *(text for _, text in terms),
            *self._now(),
        )
        # The index narrows; the records decide (a cut, case-folded or numeric key may
        # match another user's), and a row that is not a record is no one's session.
        decoded = []
        for sid, text in rows:
            try:
                decoded.append((sid, loads(text)))
            except CorruptRecord:
                continue
        return self.owned_live(owner, decoded)

    def _user_lookup(self) -> Plan[dict[str, str] | None]:
        """The SQL of each user key as indexed, or None when the table has no index of
        them (MySQL, or a MariaDB table without the columns of the migration)."""
        if self.vendor != "mysql":
            found = {key: _user_index.expression(self.vendor, key) for key in _user_index.KEYS}
            return None if None in found.values() else found
        if self._user_columns is None:
            columns = [
                _user_index.expression("mysql", key, mariadb=True) for key in _user_index.KEYS
            ]
            _, rows = yield sql(
                "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = "
                "COALESCE(%s, DATABASE()) AND table_name = %s AND column_name IN (%s, %s)",
                *(self.options.schema_name, self.table_name, *columns),
            )
            self._user_columns = rows[0][0] == len(columns)
        if not self._user_columns:
            return None
        return {key: _user_index.expression("mysql", key, mariadb=True) for key in _user_index.KEYS}

    def _length(self) -> Statements:
        _, rows = yield sql(
            f"SELECT COUNT(*) FROM {self.table} WHERE expire >= {self.at}", *self._now()
        )
        return rows[0][0]

    def _clear(self) -> Statements:
        yield sql(f"DELETE FROM {self.table}")

    def _prune(self, dry_run: bool, progress: Callable[[int], None] | None) -> Statements:
        """Delete expired rows ``PRUNE_BATCH`` at a time, oldest first through the
        ``expire`` index, each batch its own statement (and, outside a transaction, its
        own commit): no transaction spans the table and no lock is held for long."""
        table = self.table
        # The cut-off as a constant, evaluated once: the planner then sees a value it can
        # estimate, and every batch agrees on what "expired" means.
        _, rows = yield sql(f"SELECT {self.at}", *self._now())
        cutoff = rows[0][0]
        if dry_run:
            _, rows = yield sql(f"SELECT COUNT(*) FROM {table} WHERE expire < %s", cutoff)
            if progress:
                progress(rows[0][0])
            return rows[0][0]
        limit = connections[self.alias].ops.limit_offset_sql(0, PRUNE_BATCH)
        oldest = f"WHERE expire < %s ORDER BY expire {limit}"
        if self.vendor == "mysql":  # no LIMIT inside IN (...), but DELETE takes one
            batch = f"DELETE FROM {table} {oldest}"
        elif self.vendor == "postgresql":  # by row address: no join over the table
            batch = (
                f"DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table} {oldest})) "
                "AND expire < %s"
            )
        else:
            batch = f"DELETE FROM {table} WHERE sid IN (SELECT sid FROM {table} {oldest}) AND expire < %s"
        # The outer ``expire < %s`` spares a row touched between the two halves.
        params = [cutoff] if self.vendor == "mysql" else [cutoff, cutoff]
        removed = 0
        while True:
            deleted, _ = yield sql(batch, *params)
            removed += deleted
            if deleted and progress:
                progress(removed)
            if deleted < PRUNE_BATCH:
                return removed

    # -- the session policy: a small table of its own beside the sessions' ----------------

    def _policy_table(self) -> tuple[str, str]:
        """The policy table's name, and the same quoted (and qualified by the schema):
        the sessions' table name plus ``_policy``. Never a row of the sessions' table,
        where connect-pg-simple would count, list and prune it."""
        name = f"{self.table_name}_policy"
        quote = connections[self.alias].ops.quote_name
        schema = self.options.schema_name
        quoted = f"{quote(schema)}.{quote(name)}" if schema else quote(name)
        return name, quoted

    def read_policy(self, side: str) -> str | None:
        name, table = self._policy_table()
        connection = connections[self.alias]
        with connection.cursor() as cursor:
            if self.vendor == "postgresql":
                cursor.execute("SELECT to_regclass(%s)", [table])
                exists = cursor.fetchone()[0] is not None
            else:
                exists = name in connection.introspection.table_names(cursor)
            if not exists:
                return None
            cursor.execute(f"SELECT policy FROM {table} WHERE side = %s", [side])
            row = cursor.fetchone()
        return None if row is None else row[0]

    def publish_policy(self, side: str, document: str) -> None:
        """Made on first use by whichever app publishes first (the Node package makes the
        same table): ``(side varchar(16) PRIMARY KEY, policy text)``."""
        _, table = self._policy_table()
        connection = connections[self.alias]
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {table} "
                "(side varchar(16) NOT NULL PRIMARY KEY, policy text NOT NULL)"
            )
            cursor.execute(f"UPDATE {table} SET policy = %s WHERE side = %s", [document, side])
            if cursor.rowcount:
                return
        try:
            with transaction.atomic(using=self.alias), connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {table} (side, policy) VALUES (%s, %s)", [side, document]
                )
        except IntegrityError:  # another process inserted it first: its copy is as good
            pass

    # -- the table ------------------------------------------------------------------------

    def _ensure_table(self) -> None:
        """``createTableIfMissing``: make the table the first time it is needed (on
        Django's connection, from async code too: it happens once)."""
        self._table_ready = True  # _execute below must not come back here
        try:
            if not self._table_exists():
                with transaction.atomic(using=self.alias):
                    for statement in self._table_ddl():
                        self._execute(Statement(statement))
        except DatabaseError:
            self._table_ready = False
            if not self._table_exists():  # else another process made it first
                raise

    def _table_exists(self) -> bool:
        connection = connections[self.alias]
        with connection.cursor() as cursor:
            if self.vendor == "postgresql":
                cursor.execute("SELECT to_regclass(%s)", [self.table])
                return cursor.fetchone()[0] is not None
            return self.table_name in connection.introspection.table_names(cursor)

    def _table_ddl(self) -> list[str]:
        from ..models import ExpressSession

        connection = connections[self.alias]
        quote = connection.ops.quote_name
        table = self.table
        default = self.table_name == "session"
        index = quote("IDX_session_expire" if default else f"IDX_{self.table_name}_expire")
        if self.vendor == "postgresql":
            # connect-pg-simple's table.sql (its constraint and index names would clash
            # between two tables of one schema, so another table gets its own).
            primary_key = quote("session_pkey" if default else f"{self.table_name}_pkey")
            return [
                f'CREATE TABLE {table} ("sid" varchar NOT NULL COLLATE "default", '
                '"sess" json NOT NULL, "expire" timestamp(6) NOT NULL)',
                f'ALTER TABLE {table} ADD CONSTRAINT {primary_key} PRIMARY KEY ("sid") '
                "NOT DEFERRABLE INITIALLY IMMEDIATE",
                f'CREATE INDEX {index} ON {table} ("expire")',
                *self._user_index_ddl(),
            ]
        column = {field.column: field.db_type(connection) for field in ExpressSession._meta.fields}
        return [
            f"CREATE TABLE {table} (sid {column['sid']} NOT NULL PRIMARY KEY, "
            f"sess {column['sess']} NOT NULL, expire {column['expire']} NOT NULL)",
            f"CREATE INDEX {index} ON {table} (expire)",
            *self._user_index_ddl(),
        ]

    def _user_index_ddl(self) -> list[str]:
        connection = connections[self.alias]
        return _user_index.ddl(
            self.vendor,
            self.table,
            self.table_name,
            connection.ops.quote_name,
            mariadb=getattr(connection, "mysql_is_mariadb", False),
        )
