"""``manage.py clearsessions`` on the configured store."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from django_express_session import conf
from tests.test_store_database import empty_table, expire_rows, record

# Static, so pytest-django sets up the test database the fixtures then ask for.
pytestmark = pytest.mark.django_db


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def configure(settings, store: dict) -> None:
    settings.EXPRESS_SESSION = {"secret": "keyboard cat", "store": store}


def fill(store, live: int, expired: int) -> None:
    for index in range(live):
        store.set(f"live-{index}", record())
    for index in range(expired):
        store.set(f"old-{index}", record())
    expire_rows(store, "sid LIKE 'old-%%'")


@pytest.fixture(params=["database_sqlite", "database_postgres", "database_mariadb"])
def database_store(request, settings):
    configure(settings, request.getfixturevalue(f"store_{request.param}"))
    store = conf.get_store()
    empty_table(store.alias)
    return store


def run(*args: str, stdout=None) -> str:
    out = stdout or io.StringIO()
    call_command("clearsessions", *args, stdout=out)
    return out.getvalue()


def test_removes_expired_sessions_only(database_store):
    fill(database_store, live=3, expired=5)
    assert run() == "5 expired sessions removed.\n"
    assert database_store.length() == 3
    assert run() == "0 expired sessions removed.\n"


def test_dry_run_removes_nothing(database_store):
    fill(database_store, live=1, expired=4)
    assert run("--dry-run") == "4 expired sessions would be removed.\n"
    assert database_store.prune(dry_run=True) == 4


def test_progress_only_in_a_terminal(database_store, monkeypatch):
    monkeypatch.setattr("django_express_session.stores.database.PRUNE_BATCH", 2)
    fill(database_store, live=0, expired=5)
    output = run(stdout=Terminal())
    assert "\r2 expired sessions removed..." in output
    assert "\r4 expired sessions removed..." in output
    assert output.endswith("\r5 expired sessions removed.\n")


def test_store_that_expires_by_itself(settings, store_cache_locmem):
    configure(settings, store_cache_locmem)
    assert run() == "The cache store expires sessions by itself: nothing to clear.\n"


def test_file_store(settings, store_file):
    configure(settings, store_file)
    assert run() == "0 expired sessions removed.\n"


def test_one_session_is_one_session(database_store):
    fill(database_store, live=0, expired=1)
    assert run() == "1 expired session removed.\n"


def test_a_custom_store_without_prune_is_not_said_to_expire_sessions_by_itself(settings):
    configure(settings, {"backend": "tests.custom_stores.DictStore", "options": {}})
    said = run()
    assert "tests.custom_stores.DictStore does not implement prune(): nothing was cleared" in said
    assert "by itself: nothing to clear" not in said
