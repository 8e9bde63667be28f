"""PostgreSQL for the tests: a throwaway cluster (``initdb`` + ``pg_ctl``) in a temp dir,
on a free loopback port, whose server ``TimeZone`` is deliberately not UTC.

connect-pg-simple's ``expire`` column is a ``timestamp`` without time zone, so the
wall-clock time stored depends on the connection's ``TimeZone``. Django pins its connections to UTC while a Node ``pg`` pool uses
the server default; running every PostgreSQL test under ``America/New_York`` makes any
disagreement between the two show up as sessions expiring hours early or late.

Each pytest-xdist worker starts its own cluster (session fixture), so workers never
share a table. Django reaches it through a ``DATABASES`` alias of its own
(``express_pg``) that the ``postgres_alias`` fixture adds for one test and removes
afterwards: pytest-django creates test databases only for the aliases present at
start-up, and Django's test cases refuse queries to aliases a test did not declare, so
an alias that exists only while the test runs stays out of both. The cluster itself is
the throwaway database.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .process import free_port, require

STORE_VARIANTS = ["database_sqlite", "database_postgres"]

ALIAS = "express_pg"
SERVER_TIME_ZONE = "America/New_York"


def _bindir() -> Path:
    """The newest PostgreSQL's binaries (Debian keeps them off PATH)."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if candidates:
        return Path(candidates[-1]).parent
    return Path(require("initdb")).parent


@dataclass
class Cluster:
    """A running throwaway PostgreSQL cluster."""

    directory: Path
    port: int
    bindir: Path
    as_user: list[str]
    migrated: bool = False

    host = "127.0.0.1"
    user = "postgres"
    database = "postgres"

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"

    def django_settings(self) -> dict:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": self.database,
            "USER": self.user,
            "HOST": self.host,
            "PORT": str(self.port),
        }

    def pg_ctl(self, *args: str) -> None:
        subprocess.run(
            [*self.as_user, str(self.bindir / "pg_ctl"), "-D", str(self.directory / "data"), *args],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def stop(self) -> None:
        # "immediate": connections left open by other threads must not hold up the run.
        with contextlib.suppress(subprocess.CalledProcessError):
            self.pg_ctl("-m", "immediate", "-w", "stop")
        shutil.rmtree(self.directory, ignore_errors=True)


def start_cluster(time_zone: str = SERVER_TIME_ZONE) -> Cluster:
    """initdb a cluster in a fresh temp dir and start it (trust auth, no fsync)."""
    bindir = _bindir()
    directory = Path(tempfile.mkdtemp(prefix="express-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(directory, "postgres")
    data = directory / "data"
    subprocess.run(
        [*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "postgres",
         "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    cluster = Cluster(directory, free_port(), bindir, as_user)
    server_options = " ".join([
        f"-p {cluster.port}", "-c listen_addresses=127.0.0.1",
        f"-c unix_socket_directories={directory}",
        f"-c TimeZone={time_zone}", "-c fsync=off", "-c synchronous_commit=off",
        "-c full_page_writes=off",
    ])  # fmt: skip
    cluster.pg_ctl("-o", server_options, "-l", str(directory / "server.log"), "-w", "start")
    return cluster


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    cluster = start_cluster()
    yield cluster
    cluster.stop()


@contextlib.contextmanager
def database_alias(alias: str, settings: dict) -> Iterator[str]:
    """Make ``alias`` a ``DATABASES`` entry for the duration of the block."""
    from django.db import connections

    configured = connections.configure_settings({**connections.settings, alias: settings})
    connections.settings[alias] = configured[alias]
    try:
        yield alias
    finally:
        connections[alias].close()
        with contextlib.suppress(AttributeError):
            delattr(connections._connections, alias)
        del connections.settings[alias]


def migrate(alias: str) -> None:
    """Migrate ``alias`` as a project whose database store uses it (the session table is
    made only there)."""
    from django.core.management import call_command
    from django.test import override_settings

    store = {"backend": "database", "options": {"alias": alias}}
    with override_settings(EXPRESS_SESSION={"store": store}):
        call_command("migrate", "django_express_session", database=alias, verbosity=0)


@contextlib.contextmanager
def prepared_alias(alias: str, server: Any, django_db_blocker: Any) -> Iterator[str]:
    """``alias`` pointing at ``server`` while the block runs: migrated once per server,
    its session table emptied for each test."""
    from django.db import connections

    with database_alias(alias, server.django_settings()), django_db_blocker.unblock():
        if not server.migrated:
            migrate(alias)
            server.migrated = True
        connection = connections[alias]
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {connection.ops.quote_name('session')}")
        yield alias


@pytest.fixture
def postgres_alias(postgres_cluster, db, django_db_blocker) -> Iterator[str]:
    """The ``DATABASES`` alias of the cluster, migrated, its session table empty."""
    with prepared_alias(ALIAS, postgres_cluster, django_db_blocker) as alias:
        yield alias


@pytest.fixture
def store_database_sqlite(db):
    """The database store on the test project's SQLite database (pytest-django's)."""
    return {"backend": "database", "options": {}}


@pytest.fixture
def store_database_postgres(postgres_alias):
    return {"backend": "database", "options": {"alias": postgres_alias}}


@pytest.fixture(scope="session")
def interop_store_postgres(postgres_cluster):
    """connect-pg-simple and the database store on one table (the interop harness's
    ``StoreSpec``): a database of its own in the cluster, Django's ``default``."""
    import psycopg

    from tests.interop.conftest import StoreSpec

    with psycopg.connect(postgres_cluster.url, autocommit=True) as connection:
        connection.execute("CREATE DATABASE interop")
    databases = {"default": {**postgres_cluster.django_settings(), "NAME": "interop"}}
    url = postgres_cluster.url.rsplit("/", 1)[0] + "/interop"
    return StoreSpec(
        name="postgres",
        django={"backend": "database", "options": {"alias": "default"}},
        node={"kind": "pg", "options": {"connectionString": url}},
        databases=databases,
    )
