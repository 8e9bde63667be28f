"""The database store's ``session`` table and its permissions, only where that store
is used; existing installs keep working (``session_table``)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import connections

from tests.helpers import SECRET
from tests.servers.postgres import database_alias

ALIAS = "fresh"


@pytest.fixture
def fresh(tmp_path, django_db_blocker):
    """A new, empty SQLite database under the alias ``fresh``."""
    sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "fresh.sqlite3")}
    with database_alias(ALIAS, sqlite), django_db_blocker.unblock():
        yield connections[ALIAS]


def migrate(*target: str) -> None:
    call_command("migrate", "django_express_session", *target, database=ALIAS, verbosity=0)


def tables(connection) -> set[str]:
    with connection.cursor() as cursor:
        return set(connection.introspection.table_names(cursor))


def indexes(connection) -> set[str]:
    with connection.cursor() as cursor:
        return set(connection.introspection.get_constraints(cursor, "session"))


@pytest.fixture
def file_store(settings, tmp_path):
    settings.EXPRESS_SESSION = {
        "secret": SECRET,
        "store": {"backend": "file", "options": {"path": str(tmp_path / "sessions")}},
    }


def database_store(settings):
    settings.EXPRESS_SESSION = {
        "secret": SECRET,
        "store": {"backend": "database", "options": {"alias": ALIAS}},
    }


def test_no_table_where_the_database_store_is_not_used(fresh, file_store):
    migrate()

    assert "session" not in tables(fresh)


def test_the_table_where_the_database_store_uses_it(fresh, settings):
    database_store(settings)
    migrate()

    assert "session" in tables(fresh)
    assert {"IDX_session_expire", "IDX_session_django_user"} <= indexes(fresh)


def test_switching_to_the_database_store_later_makes_the_table_at_the_next_migrate(
    fresh, file_store, settings
):
    migrate()
    database_store(settings)

    migrate()  # nothing left to apply: post_migrate makes it

    assert "session" in tables(fresh)
    assert "IDX_session_expire" in indexes(fresh)
    assert {"IDX_session_django_user", "IDX_session_passport_user"} <= indexes(fresh)


def test_a_legacy_session_table_is_left_alone_forwards_and_backwards(fresh, file_store):
    with fresh.cursor() as cursor:
        cursor.execute('CREATE TABLE "session" (id integer PRIMARY KEY, legacy text)')
        cursor.execute("INSERT INTO \"session\" VALUES (1, 'kept')")

    migrate()
    migrate("zero")

    with fresh.cursor() as cursor:
        cursor.execute('SELECT legacy FROM "session"')
        assert cursor.fetchall() == [("kept",)]


def test_migrate_zero_drops_the_table_where_the_store_uses_it(fresh, settings):
    database_store(settings)
    migrate()
    migrate("zero")

    assert "session" not in tables(fresh)


@pytest.mark.django_db
def test_the_model_has_no_permissions():
    assert not Permission.objects.filter(content_type__app_label="django_express_session").exists()
