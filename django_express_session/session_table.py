"""The database store's ``session`` table, made only where that store uses it.

``migrate`` used to create connect-pg-simple's ``session`` table (and its four model
permissions) in every project, whatever its store: a table no one used, or a clash with
a legacy table of that name. Now:

* migration ``0001`` creates the table only on the database the configured database
  store uses (its ``alias``, the default ``tableName`` and no ``schemaName``; another
  name or schema is ``createTableIfMissing``'s), and its reverse drops it only there;
  ``0002`` indexes it where it exists; ``0003`` makes no model permissions (nothing
  checks them: the admin's session pages go by the user's permissions);
* a project that switches to the database store after its first ``migrate`` (its
  ``0001`` recorded, no table) gets the table from its next ``migrate``: the
  ``post_migrate`` handler below makes it, with the same columns and indexes;
* an existing install keeps what it has: the table stays (drop it yourself when the
  database store is not used and it is empty), so do permissions made before ``0003``.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import migrations
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.recorder import MigrationRecorder

from . import conf
from .stores import _user_index

logger = logging.getLogger("django_express_session")

TABLE = "session"
APP = "django_express_session"
DATABASE_STORE = conf.STORE_BACKENDS["database"]


def wanted(connection: BaseDatabaseWrapper) -> bool:
    """Whether the configured store is the database store on this connection's
    database, in the table the migration makes."""
    store = conf.get_options().store
    if store.backend != DATABASE_STORE:
        return False
    options = store.options
    return (
        options.get("alias", "default") == connection.alias
        and options.get("tableName", TABLE) == TABLE
        and not options.get("schemaName")
    )


def exists(connection: BaseDatabaseWrapper) -> bool:
    with connection.cursor() as cursor:
        return TABLE in connection.introspection.table_names(cursor)


class CreateSessionTable(migrations.CreateModel):
    """``CreateModel`` of the ``session`` table whose schema changes happen only where
    the database store uses it (the migration state is the same everywhere)."""

    def database_forwards(self, app_label: str, schema_editor: Any, *args: Any) -> None:
        if wanted(schema_editor.connection):
            super().database_forwards(app_label, schema_editor, *args)

    def database_backwards(self, app_label: str, schema_editor: Any, *args: Any) -> None:
        connection = schema_editor.connection
        if wanted(connection) and exists(connection):
            super().database_backwards(app_label, schema_editor, *args)


def index_statements(connection: BaseDatabaseWrapper, build: Any) -> list[str]:
    """The statements of ``build`` (``_user_index.ddl`` or ``drop_ddl``) for the table."""
    quote = connection.ops.quote_name
    return build(
        connection.vendor,
        quote(TABLE),
        TABLE,
        quote,
        mariadb=getattr(connection, "mysql_is_mariadb", False),
    )


def create_indexes(schema_editor: Any) -> None:
    """Migration ``0002``'s indexes of the user keys (concurrently on PostgreSQL)."""
    connection = schema_editor.connection
    concurrently = connection.vendor == "postgresql"
    if concurrently:
        with connection.cursor() as cursor:
            drops = _user_index.invalid_index_drops(cursor, TABLE, connection.ops.quote_name)
        for statement in drops:
            schema_editor.execute(statement)
    build = _user_index.ddl
    for statement in index_statements(
        connection, lambda *args, **kw: build(*args, **kw, concurrently=concurrently)
    ):
        schema_editor.execute(statement)


def made_late(sender: Any, using: str, apps: Any = None, **kwargs: Any) -> None:
    """``post_migrate``: the table of a project that took the database store after its
    ``0001`` was recorded without making it."""
    from django.db import connections

    if apps is None or sender.name != APP:
        return
    connection = connections[using]
    try:
        if not wanted(connection) or exists(connection):
            return
    except Exception:  # a bad EXPRESS_SESSION is the system checks' to report
        return
    applied = MigrationRecorder(connection).applied_migrations()
    if (APP, "0001_initial") not in applied:
        return
    model = apps.get_model(APP, "ExpressSession")
    with connection.schema_editor(atomic=connection.vendor != "postgresql") as editor:
        editor.create_model(model)
        create_indexes(editor)
    logger.warning("Created the database store's table %r on %r.", TABLE, using)
