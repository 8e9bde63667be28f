"""Index the user keys inside ``sess`` (``_auth_user_id``, ``passport.user``), so that
``users.sessions_of`` reads only the user's rows: an expression index on PostgreSQL
and SQLite, indexed virtual columns on MariaDB (``stores/_user_index.py``). The columns
connect-pg-simple reads and writes are left as they are; on MySQL nothing is made.
Only where the database store uses the table (``session_table``): never on a legacy
``session`` table of another use.

Not atomic: on PostgreSQL the indexes are built ``CONCURRENTLY``, so an Express app
keeps writing sessions to the table while they are built.
"""

from django.db import migrations

from django_express_session import session_table
from django_express_session.stores import _user_index


def used(connection) -> bool:
    return session_table.wanted(connection) and session_table.exists(connection)


def create(apps, schema_editor):
    if used(schema_editor.connection):
        session_table.create_indexes(schema_editor)


def drop(apps, schema_editor):
    connection = schema_editor.connection
    if used(connection):
        for statement in session_table.index_statements(connection, _user_index.drop_ddl):
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("django_express_session", "0001_initial")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
