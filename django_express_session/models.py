"""The ``database`` store's table: connect-pg-simple's ``"session"`` table.

On PostgreSQL the migration makes exactly the table connect-pg-simple's ``table.sql``
makes (``sid varchar`` primary key, ``sess json``, ``expire timestamp(6)`` without time
zone, index ``IDX_session_expire``), so an Express app and this app share it. On other
databases the same columns get the nearest portable types. Migration ``0002`` then
indexes the user keys inside ``sess`` (``stores/_user_index.py``), leaving these
columns as they are.

The store reads and writes the table with SQL of its own (``stores/database.py``), not
through this model: the model exists for the migration and for looking at rows. The
table is made only where the database store uses it (``session_table``).
"""

from __future__ import annotations

from django.db import models

from .record import dumps


class SessionIdField(models.CharField):
    """``sid``: ``varchar`` without a length on PostgreSQL, as connect-pg-simple's
    table; a bounded ``varchar`` elsewhere (MySQL keys need a length)."""

    def db_type(self, connection):
        if connection.vendor == "postgresql":
            # Spelled out so Django adds no varchar_pattern_ops index: sids are never
            # searched with LIKE, and connect-pg-simple's table has none.
            return "character varying"
        return super().db_type(connection)


class SessionJSONField(models.TextField):
    """``sess``: the express JSON text, kept verbatim. PostgreSQL ``json`` (``jsonb``
    would reorder keys and change the bytes Node reads back); text elsewhere."""

    def db_type(self, connection):
        if connection.vendor == "postgresql":
            return "json"
        return super().db_type(connection)

    def from_db_value(self, value, expression, connection):
        # psycopg decodes json columns; the ORM gives the text back.
        if value is None or isinstance(value, str):
            return value
        return dumps(value)


class ExpireField(models.DateTimeField):
    """``expire``: ``timestamp(6)`` *without* time zone on PostgreSQL, as
    connect-pg-simple's table. Its wall-clock time is in the database's default
    ``TimeZone`` (see ``stores/database.py``)."""

    def db_type(self, connection):
        if connection.vendor == "postgresql":
            return "timestamp(6)"
        return super().db_type(connection)


class ExpressSession(models.Model):
    sid = SessionIdField(primary_key=True, max_length=255)
    sess = SessionJSONField()
    expire = ExpireField()

    class Meta:
        db_table = "session"
        indexes = [models.Index(fields=["expire"], name="IDX_session_expire")]
        verbose_name = "express session"
        # Nothing checks them (the admin's session pages go by users' permissions).
        default_permissions = ()

    def __str__(self) -> str:
        return self.sid
