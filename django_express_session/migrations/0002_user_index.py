"""Index the user keys inside ``sess`` (``_auth_user_id``, ``passport.user``), so that
``users.sessions_of`` reads only the user's rows: an expression index on PostgreSQL
and SQLite, indexed virtual columns on MariaDB (``stores/_user_index.py``). The columns
connect-pg-simple reads and writes are left as they are; on MySQL nothing is made.

Not atomic: on PostgreSQL the indexes are built ``CONCURRENTLY``, so an Express app
keeps writing sessions to the table while they are built.
"""

from django.db import migrations

from django_express_session.stores import _user_index

TABLE = "session"


def statements(schema_editor, build):
    connection = schema_editor.connection
    quote = connection.ops.quote_name
    return build(
        connection.vendor,
        quote(TABLE),
        TABLE,
        quote,
        mariadb=getattr(connection, "mysql_is_mariadb", False),
    )


def create(apps, schema_editor):
    concurrently = schema_editor.connection.vendor == "postgresql"
    if concurrently:
        with schema_editor.connection.cursor() as cursor:
            drops = _user_index.invalid_index_drops(
                cursor, TABLE, schema_editor.connection.ops.quote_name
            )
        for statement in drops:
            schema_editor.execute(statement)
    for statement in statements(
        schema_editor, lambda *args, **kw: _user_index.ddl(*args, **kw, concurrently=concurrently)
    ):
        schema_editor.execute(statement)


def drop(apps, schema_editor):
    for statement in statements(schema_editor, _user_index.drop_ddl):
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("django_express_session", "0001_initial")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
