"""The stores' servers (redis-server, memcached, PostgreSQL), each started in a temp dir on
a free loopback port with the test suite's helpers, and a *meter* per server that counts
the round trips the app servers send it between ``reset()`` and ``collect()``.

What each meter counts:

* Redis: the commands clients sent, from the server's ``SLOWLOG`` with a threshold of
  0 µs while counting (every command is logged, at far less cost than ``MONITOR``;
  off during the timed runs). Commands that Lua
  scripts run inside the server are logged with the client ``?:0`` and left out, and so
  are connection handshakes and the meter's own commands. (``INFO commandstats`` cannot
  tell the two apart: it counts a script's inner ``GET`` as a ``GET``.)
* PostgreSQL: the top-level statements of the benchmark's database in
  ``pg_stat_statements`` (each one a round trip; ``BEGIN``/``COMMIT`` included).
* memcached: the ``stats`` counters ``cmd_get`` (get and gets, per key), ``cmd_set``
  (less the ``cas`` commands, counted on their own), ``cmd_touch`` and deletes.
"""

from __future__ import annotations

import glob
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import redis as redis_py

from tests.servers.memcached import start_memcached
from tests.servers.postgres import start_cluster
from tests.servers.process import Server
from tests.servers.redis import CONNECTION_HANDSHAKE, start_redis

# Far more than a count's commands; a full log is reported, never silently cut.
SLOWLOG_ENTRIES = 200_000
METER_NAME = "bench-meter"
LUA_CLIENT = "?:0"


class BenchmarkError(Exception):
    """Something the user can fix (a missing program, a server that does not start)."""


def require(*executables: str) -> None:
    missing = [name for name in executables if not _installed(name)]
    if missing:
        raise BenchmarkError(
            f"missing programs: {', '.join(missing)} (Debian: apt-get install -y "
            "redis-server memcached postgresql wrk nodejs)"
        )


def _installed(name: str) -> bool:
    if name == "initdb":  # Debian keeps PostgreSQL's binaries off PATH
        return bool(glob.glob("/usr/lib/postgresql/*/bin/initdb") or shutil.which(name))
    return shutil.which(name) is not None


@dataclass
class Trips:
    """Round trips of one cell: how many of each command, and (Redis) each connection's
    commands in order, as ``(command, first argument)`` pairs."""

    commands: Counter[str] = field(default_factory=Counter)
    by_connection: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    truncated: bool = False


class RedisServer:
    def __init__(self, directory: Path) -> None:
        self.server: Server = start_redis(directory)
        self.client = redis_py.Redis(port=self.server.port, client_name=METER_NAME)
        try:
            self.client.config_set("slowlog-max-len", SLOWLOG_ENTRIES)
            self._log_every_command(False)
        except redis_py.RedisError:
            self.stop()
            raise

    @property
    def root_pid(self) -> int:
        """The server's process (its CPU is read per cell: ``cpu``)."""
        return self.server.process.pid

    def _log_every_command(self, on: bool) -> None:
        self.client.config_set("slowlog-log-slower-than", 0 if on else -1)

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.server.port}/{db}"

    def version(self) -> str:
        return self.client.info("server")["redis_version"]

    def reset(self) -> None:
        self.client.slowlog_reset()
        self._log_every_command(True)

    def collect(self) -> Trips:
        self._log_every_command(False)
        entries = sorted(self.client.slowlog_get(SLOWLOG_ENTRIES), key=lambda e: e["id"])
        trips = Trips(truncated=len(entries) >= SLOWLOG_ENTRIES)
        for entry in entries:
            address = _text(entry.get("client_address", b""))
            if address == LUA_CLIENT or _text(entry.get("client_name", b"")) == METER_NAME:
                continue
            words = _text(entry["command"]).split(" ", 2)
            name = words[0].upper()
            if name in CONNECTION_HANDSHAKE:
                continue
            trips.commands[name] += 1
            argument = words[1] if len(words) > 1 else ""
            trips.by_connection.setdefault(address, []).append((name, argument))
        self.client.slowlog_reset()  # its memory goes back at once
        return trips

    def stop(self) -> None:
        self.client.close()
        self.server.stop()


class MemcachedServer:
    COUNTERS = ("cmd_get", "cmd_set", "cmd_touch", "cas_hits", "cas_badval", "cas_misses",
                "delete_hits", "delete_misses")  # fmt: skip

    def __init__(self) -> None:
        from pymemcache.client.base import Client

        self.server: Server = start_memcached()
        self.client = Client(("127.0.0.1", self.server.port))
        self._before: dict[str, int] = {}

    @property
    def location(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    @property
    def root_pid(self) -> int:
        return self.server.process.pid

    def version(self) -> str:
        return self.client.version().decode()

    def _stats(self) -> dict[str, int]:
        stats = {_text(key): value for key, value in self.client.stats().items()}
        return {name: int(stats[name]) for name in self.COUNTERS}

    def reset(self) -> None:
        self._before = self._stats()

    def collect(self) -> Trips:
        after = self._stats()
        delta = {name: after[name] - self._before.get(name, 0) for name in self.COUNTERS}
        cas = delta["cas_hits"] + delta["cas_badval"] + delta["cas_misses"]
        commands = Counter(
            {
                "get": delta["cmd_get"],
                "set": delta["cmd_set"] - cas,
                "cas": cas,
                "touch": delta["cmd_touch"],
                "delete": delta["delete_hits"] + delta["delete_misses"],
            }
        )
        return Trips(commands=+commands)  # unary + drops the zeros

    def stop(self) -> None:
        self.client.close()
        self.server.stop()


class PostgresServer:
    """A throwaway cluster with ``pg_stat_statements`` loaded; the sessions live in the
    database ``bench``, the meter reads the statistics from ``postgres``."""

    database = "bench"

    def __init__(self) -> None:
        import psycopg

        self.cluster = start_cluster()
        try:
            with psycopg.connect(self.cluster.url, autocommit=True) as connection:
                connection.execute(
                    "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"
                )
            # pg_ctl restart reuses the options the cluster was started with; the log
            # file must be given again, or the server holds pg_ctl's output pipes open.
            log = self.cluster.directory / "server.log"
            self.cluster.pg_ctl("-l", str(log), "-w", "restart")
            self.connection = psycopg.connect(self.cluster.url, autocommit=True)
            self.connection.execute("CREATE EXTENSION pg_stat_statements")
            self.connection.execute(f"CREATE DATABASE {self.database}")
            (self.dbid,) = self.connection.execute(
                "SELECT oid FROM pg_database WHERE datname = %s", [self.database]
            ).fetchone()
        except Exception:
            self.cluster.stop()
            raise

    @property
    def root_pid(self) -> int:
        """The postmaster (the backends serving the app are its children)."""
        pid_file = self.cluster.directory / "data" / "postmaster.pid"
        return int(pid_file.read_text().split()[0])

    def django_settings(self, *, persistent: bool) -> dict:
        """Django's ``DATABASES`` entry. ``persistent`` connections are what a WSGI site
        runs with (else every request also pays for a new connection); under ASGI Django
        cannot reuse them (its connections belong to each request's context, so they
        pile up until PostgreSQL refuses more), and its advice is ``CONN_MAX_AGE = 0``."""
        return {
            **self.cluster.django_settings(),
            "NAME": self.database,
            "CONN_MAX_AGE": 600 if persistent else 0,
        }

    def version(self) -> str:
        return self.connection.execute("SHOW server_version").fetchone()[0]

    def reset(self) -> None:
        self.connection.execute("SELECT pg_stat_statements_reset()")

    def collect(self) -> Trips:
        rows = self.connection.execute(
            "SELECT query, calls FROM pg_stat_statements WHERE dbid = %s AND toplevel",
            [self.dbid],
        ).fetchall()
        commands: Counter[str] = Counter()
        for query, calls in rows:
            commands[query.split(None, 1)[0].upper()] += calls
        return Trips(commands=commands)

    def stop(self) -> None:
        self.connection.close()
        self.cluster.stop()


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value
