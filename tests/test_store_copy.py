"""``migratesessions --from-store``: moving between this package's stores logs no one
out (real Redis, the database store on SQLite, the file store)."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client

from django_express_session import conf
from tests.helpers import SECRET

pytestmark = pytest.mark.django_db

OPTIONS = {"secret": SECRET, "resave": False, "saveUninitialized": False}


def use(settings, store: dict) -> None:
    settings.ROOT_URLCONF = "tests.urls"
    settings.EXPRESS_SESSION = {**OPTIONS, "cookie": {"maxAge": 3_600_000}, "store": store}


def copy(*argv: str) -> str:
    out = StringIO()
    call_command("migratesessions", "--from-store", *argv, stdout=out)
    return out.getvalue()


@pytest.fixture
def logged_in(settings):
    """Log three users in on ``old``; return their browsers."""

    def log_in(old: dict) -> list[Client]:
        use(settings, old)
        conf.get_store().clear()  # what other tests left in a shared table
        browsers = []
        for name in ("alice", "bob", "carol"):
            User.objects.create_user(name, password="pw")
            browser = Client()
            browser.get("/login", {"username": name})
            browsers.append(browser)
        return browsers

    return log_in


@pytest.mark.parametrize(
    ("old", "new"), [("file", "redis"), ("redis", "database_sqlite"), ("database_sqlite", "file")]
)
def test_moving_to_another_store_logs_no_one_out(request, settings, logged_in, old, new):
    old_store = request.getfixturevalue(f"store_{old}")
    new_store = request.getfixturevalue(f"store_{new}")
    browsers = logged_in(old_store)
    settings.SOURCE_STORE = old_store
    use(settings, new_store)
    assert browsers[0].get("/whoami").content == b"anonymous", "the switch alone logs out"

    said = copy("SOURCE_STORE")

    assert said.startswith(
        f"Copied 3 sessions from the {conf.build_store(conf.store_config(old_store)).name} store"
    )
    assert [b.get("/whoami").content for b in browsers] == [b"alice", b"bob", b"carol"]
    again = copy(json.dumps(old_store))
    assert "Copied 0 sessions" in again and "Skipped: 3 already there." in again


def test_dry_run_copies_nothing(settings, logged_in, store_file, store_redis):
    browsers = logged_in(store_file)
    use(settings, store_redis)

    said = copy(json.dumps(store_file), "--dry-run")

    assert said.startswith("Would copy 3 sessions")
    assert conf.get_store().length() == 0
    assert browsers[0].get("/whoami").content == b"anonymous"


def test_file_bookkeeping_stays_behind(settings, logged_in, store_file, store_redis):
    logged_in(store_file)
    use(settings, store_redis)
    copy(json.dumps(store_file))

    records = conf.get_store().all().values()
    assert records and all("__lastAccess" not in record for record in records)


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("{not json", "--from-store is not valid JSON"),
        ("NO_SUCH_SETTING", "is neither a JSON store"),
        ('{"backend": "reddis"}', "did you mean 'redis'?"),
    ],
)
def test_a_bad_source_is_a_command_error(settings, store_memory, given, said):
    use(settings, store_memory)

    with pytest.raises(CommandError, match=said.replace("?", r"\?")):
        copy(given)
