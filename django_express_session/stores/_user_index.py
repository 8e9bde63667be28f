"""How the database store finds a user's rows: the two user keys inside ``sess`` as SQL
expressions, and the DDL that indexes exactly those expressions.

The migration (``0002_user_index``), ``createTableIfMissing`` and the documentation's
statements for a table this app does not manage all build their DDL here, and the
store's query uses the same text, so the planner always matches query and index.

* PostgreSQL: partial expression indexes on ``(sess->>'_auth_user_id')`` and
  ``(sess->'passport'->>'user')`` of the ``json`` column; anonymous sessions (no user)
  are left out of them. The columns connect-pg-simple uses are not changed.
* SQLite: expression indexes on ``json_extract`` (guarded by ``json_valid``, so a
  corrupt row is never an error on write).
* MariaDB has no index on an expression: two ``VIRTUAL`` generated columns holding
  ``JSON_VALUE`` of the two keys (MariaDB 10.2+), each with an index. A virtual column
  takes no space in the row; the index holds its value. The columns are cut to
  ``MARIADB_KEY_CHARS`` characters so that no value can make a write fail; the store
  compares whole records afterwards anyway.
* MySQL is not covered (its ``JSON_EXTRACT`` fails on invalid text, which would make
  writes fail): the store scans the table there.

A value of ``passport.user`` that is a number is found by its JSON text (``42``); one
that is an object or a list is not indexed, and such an owner is found by a scan.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..owner import Owner

#: The user keys of a record, by the name their index and column carry.
KEYS = ("django_user", "passport_user")
#: Where the two keys are in a record (``Owner.django_id``, ``Owner.passport``).
PATHS = {"django_user": ("_auth_user_id",), "passport_user": ("passport", "user")}
MARIADB_KEY_CHARS = 255


def expression(vendor: str, key: str, *, mariadb: bool = False) -> str | None:
    """The SQL of one user key in a row, as indexed; None where nothing is indexed."""
    path = PATHS[key]
    if vendor == "postgresql":
        *parents, leaf = path
        return "(sess" + "".join(f"->'{name}'" for name in parents) + f"->>'{leaf}')"
    dotted = "$." + ".".join(path)
    if vendor == "sqlite":
        return f"(CASE WHEN json_valid(sess) THEN CAST(json_extract(sess, '{dotted}') AS TEXT) END)"
    if vendor == "mysql" and mariadb:
        return f"express_{key}"  # the generated column
    return None


def lookup_text(value: Any) -> str | None:
    """A key's value as the expression gives it: a string as it is, a number as its
    JSON text; None for a value no expression gives (an object, a list)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return json.dumps(value)


def lookup_terms(owner: Owner, *, mariadb: bool = False) -> list[tuple[str, str]] | None:
    """``(key, text)`` for each key ``owner`` is found by; None when one of them cannot
    be looked up (the store then scans)."""
    terms = []
    for key, value in (("django_user", owner.django_id), ("passport_user", owner.passport)):
        if value is None:
            continue
        text = lookup_text(value)
        if text is None:
            return None
        terms.append((key, text[:MARIADB_KEY_CHARS] if mariadb else text))
    return terms


def index_name(table_name: str, key: str) -> str:
    return f"IDX_{table_name}_{key}"


def ddl(
    vendor: str,
    table: str,
    table_name: str,
    quote: Callable[[str], str],
    *,
    mariadb: bool = False,
    concurrently: bool = False,
) -> list[str]:
    """The statements that index the user keys of ``table`` (quoted; ``table_name`` is
    its bare name, for the index names); none on a database without such an index.
    Each statement can run again on a table that has the index already."""
    if vendor == "postgresql":
        how = "CONCURRENTLY IF NOT EXISTS" if concurrently else "IF NOT EXISTS"
        return [
            f"CREATE INDEX {how} {quote(index_name(table_name, key))} ON {table} "
            f"({(found := expression(vendor, key))}) WHERE {found} IS NOT NULL"
            for key in KEYS
        ]
    if vendor == "sqlite":
        return [
            f"CREATE INDEX IF NOT EXISTS {quote(index_name(table_name, key))} ON {table} "
            f"({expression(vendor, key)})"
            for key in KEYS
        ]
    if vendor == "mysql" and mariadb:
        parts = []
        for key in KEYS:
            path = "$." + ".".join(PATHS[key])
            parts.append(
                f"ADD COLUMN IF NOT EXISTS express_{key} varchar({MARIADB_KEY_CHARS}) "
                f"AS (LEFT(JSON_VALUE(sess, '{path}'), {MARIADB_KEY_CHARS})) VIRTUAL"
            )
        parts += [
            f"ADD INDEX IF NOT EXISTS {quote(index_name(table_name, key))} (express_{key})"
            for key in KEYS
        ]
        return [f"ALTER TABLE {table} " + ", ".join(parts)]
    return []


def invalid_index_drops(cursor: Any, table_name: str, quote: Callable[[str], str]) -> list[str]:
    """On PostgreSQL, the statements that drop what a failed ``CREATE INDEX
    CONCURRENTLY`` left of this table's user indexes: an invalid index under the name,
    which ``IF NOT EXISTS`` would keep as it is (unused by queries, yet updated by
    every write), so that building it again starts afresh."""
    names = [index_name(table_name, key) for key in KEYS]
    cursor.execute(
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE NOT i.indisvalid AND c.relname = ANY(%s)",
        [names],
    )
    return [f"DROP INDEX CONCURRENTLY IF EXISTS {quote(name)}" for (name,) in cursor.fetchall()]


def drop_ddl(
    vendor: str, table: str, table_name: str, quote: Callable[[str], str], *, mariadb: bool = False
) -> list[str]:
    """What ``ddl`` made, removed (the migration's reverse)."""
    if vendor in ("postgresql", "sqlite"):
        return [f"DROP INDEX IF EXISTS {quote(index_name(table_name, key))}" for key in KEYS]
    if vendor == "mysql" and mariadb:
        parts = [f"DROP INDEX IF EXISTS {quote(index_name(table_name, key))}" for key in KEYS]
        parts += [f"DROP COLUMN IF EXISTS express_{key}" for key in KEYS]
        return [f"ALTER TABLE {table} " + ", ".join(parts)]
    return []
