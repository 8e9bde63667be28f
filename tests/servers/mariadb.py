"""MariaDB for the tests: a throwaway server (``mariadb-install-db`` + ``mariadbd``) in a
temp dir, on a free loopback port, reached through Django's MySQL backend (mysqlclient).

The server runs with Debian's defaults that matter to the store: ``utf8mb4`` with the
case-*insensitive* ``utf8mb4_general_ci`` collation (so a compare-and-set that is not
byte-exact shows up), strict mode, and a ``time_zone`` that is not UTC (Django stores
naive UTC datetimes on MySQL; nothing the store does may depend on the server's zone).

As for PostgreSQL (``tests/servers/postgres.py``), each pytest-xdist worker starts its
own server (session fixture) and Django reaches it through a ``DATABASES`` alias that
exists only while a test runs, so pytest-django neither creates a test database on it
nor refuses its queries. The server itself is the throwaway database.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .postgres import prepared_alias
from .process import Server, free_port, require, unavailable

STORE_VARIANTS = ["database_mariadb"]

ALIAS = "express_mariadb"
SERVER_TIME_ZONE = "-05:00"


def _server_binary() -> str:
    """``mariadbd`` (``mysqld`` on older packages); Debian keeps it in /usr/sbin, which
    is not on every user's PATH."""
    for name in ("mariadbd", "mysqld"):
        found = shutil.which(name) or shutil.which(name, path="/usr/sbin")
        if found:
            return found
    return require("mariadbd")


def _driver():
    """mysqlclient, Django's MySQL driver (the ``test`` extra installs it); in CI a
    missing one fails, elsewhere it skips."""
    try:
        import MySQLdb
    except ImportError:
        unavailable("mysqlclient is not installed (scripts/test installs it)")
    return MySQLdb


@dataclass
class MariaDB:
    """A running throwaway MariaDB server."""

    directory: Path
    server: Server
    migrated: bool = False

    host = "127.0.0.1"
    user = "root"
    database = "express"

    @property
    def port(self) -> int:
        return self.server.port

    def django_settings(self) -> dict:
        return {
            "ENGINE": "django.db.backends.mysql",
            "NAME": self.database,
            "USER": self.user,
            "HOST": self.host,
            "PORT": str(self.port),
        }

    def stop(self) -> None:
        self.server.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def start_mariadb() -> MariaDB:
    """Install a data directory in a fresh temp dir and start a server on it (root
    without a password, no binary log, no fsync on commit)."""
    mariadbd = _server_binary()
    driver = _driver()
    install_db = require("mariadb-install-db")
    directory = Path(tempfile.mkdtemp(prefix="express-mariadb-"))
    data = directory / "data"
    # A temp dir of its own: servers of parallel workers sharing /tmp clash on the names
    # of their temporary tables (seen: mariadb-install-db failing 1 time in 6).
    (directory / "tmp").mkdir()
    environment = {**os.environ, "TMPDIR": str(directory / "tmp")}
    # The server refuses to run as root unless told to: as root, it stays root.
    as_user = ["--user=root"] if os.geteuid() == 0 else []
    subprocess.run(
        [install_db, "--no-defaults", f"--datadir={data}", *as_user,
         "--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve"],
        check=True, capture_output=True, timeout=120, env=environment,
    )  # fmt: skip
    port = free_port()
    server = Server(
        [mariadbd, "--no-defaults", f"--datadir={data}", *as_user,
         f"--port={port}", "--bind-address=127.0.0.1", f"--socket={directory / 'sock'}",
         f"--pid-file={directory / 'mariadbd.pid'}", f"--log-error={directory / 'error.log'}",
         "--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci",
         f"--default-time-zone={SERVER_TIME_ZONE}", "--skip-log-bin",
         "--innodb-flush-log-at-trx-commit=0", "--innodb-buffer-pool-size=32M"],
        port,
        env=environment,
        log=directory / "server.log",
    ).start()  # fmt: skip
    instance = MariaDB(directory, server)
    connection = driver.connect(host=instance.host, port=port, user=instance.user)
    try:
        connection.cursor().execute(f"CREATE DATABASE {instance.database}")
    finally:
        connection.close()
    return instance


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[MariaDB]:
    server = start_mariadb()
    yield server
    server.stop()


@pytest.fixture
def mariadb_alias(mariadb_server, db, django_db_blocker) -> Iterator[str]:
    """The ``DATABASES`` alias of the server, migrated, its session table empty."""
    with prepared_alias(ALIAS, mariadb_server, django_db_blocker) as alias:
        yield alias


@pytest.fixture
def store_database_mariadb(mariadb_alias):
    return {"backend": "database", "options": {"alias": mariadb_alias}}
