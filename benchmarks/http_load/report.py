"""The results: one cell per (row, sessions mode, route), the machine, and the table."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from . import conflicts, cpu
from .backends import Trips
from .load import WrkResult
from .servers import NODE_MODULES, ROOT, Row

MODE_LABELS = {"spread": "{sessions} sessions", "one": "1 session"}


@dataclass
class Cell:
    row: Row
    mode: str  # "spread" or "one"
    route: str
    metered: bool  # whether the row's store has a round-trip meter
    runs: list[WrkResult] = field(default_factory=list)
    # The round-trip count: its requests (all answered), their statuses, the commands.
    counted: Counter[int] = field(default_factory=Counter)
    commands: Counter[str] = field(default_factory=Counter)
    attempts: Counter[int] = field(default_factory=Counter)  # redis /incr, gunicorn
    cpu: list[cpu.Split] = field(default_factory=list)  # one per run
    truncated: bool = False

    def add_trips(self, statuses: Counter[int], trips: Trips) -> None:
        self.counted.update(statuses)
        self.commands.update(trips.commands)
        self.truncated |= trips.truncated
        if self.shows_attempts:
            self.attempts.update(conflicts.save_attempts(trips.by_connection))

    @property
    def is_redis_race(self) -> bool:
        """This package's redis store, ``/incr`` on one session: compare-and-set races."""
        return self.row.variant.name == "redis" and self.mode == "one" and self.route == "/incr"

    @property
    def shows_attempts(self) -> bool:
        """Whether the save attempts of each request can be told apart (under gunicorn
        only, see ``conflicts.py``)."""
        return self.is_redis_race and self.row.kind == "gunicorn"

    @property
    def rps(self) -> float:
        seconds = sum(run.seconds for run in self.runs)
        return sum(run.requests for run in self.runs) / seconds if seconds else 0.0

    @property
    def p99_ms(self) -> float:
        return statistics.median(run.p99_ms for run in self.runs)

    @property
    def problems(self) -> str:
        statuses = sum(run.bad_statuses for run in self.runs)
        statuses += sum(n for status, n in self.counted.items() if status >= 400)
        sockets = sum(run.socket_errors for run in self.runs)
        found = []
        if statuses:
            found.append(f"{statuses} responses not 2xx/3xx")
        if sockets:
            found.append(f"{sockets} socket errors or timeouts")
        return ", ".join(found)

    def per_request(self) -> list[tuple[str, float]]:
        total = sum(self.counted.values())
        return [(name, count / total) for name, count in self.commands.most_common()]

    def trips_text(self) -> str:
        """Round trips per request, by command: ``EVALSHA 2.00`` or ``GET 1.00 + SET 1.00``."""
        if not self.metered:
            return "\u2013"  # an en dash: no store to count
        # What rounds to 0.00 (a SCRIPT LOAD after a restart, a pooled connection's
        # handshake) is left out.
        shown = [f"{name} {value:.2f}" for name, value in self.per_request() if value >= 0.005]
        return (" + ".join(shown) or "0") + (" (log full: more)" if self.truncated else "")


Cells = dict[tuple[Row, str, str], Cell]


def table(cells: Cells, rows: list[Row], modes: list[str], routes: list[str], sessions: int) -> str:
    """The markdown table: a line per row and sessions mode, five columns per route."""
    baselines = {
        (cell.row.baseline_key, cell.mode, cell.route): cell
        for cell in cells.values()
        if cell.row.variant.baseline
    }

    def texts(row: Row, mode: str, route: str) -> list[str]:
        cell = cells[(row, mode, route)]
        base = baselines[(row.baseline_key, mode, route)]
        mark = " ⚠" if cell.problems else ""
        return [
            f"{cell.rps:,.0f}{mark}",
            f"{cell.rps / base.rps:.2f}" if base.rps else "?",
            _extra_us(cell.rps, base.rps),
            f"{cell.p99_ms:.1f}",
            cell.trips_text(),
        ]

    columns = [("req/s", "---:"), ("ratio", "---:"), ("+µs/req", "---:"), ("p99 ms", "---:"),
               ("round trips/req", "---")]  # fmt: skip
    return "\n".join(_grid(rows, modes, routes, sessions, columns, texts))


def cpu_table(
    cells: Cells, rows: list[Row], modes: list[str], routes: list[str], sessions: int
) -> str:
    """CPU per request by process (``cpu``), the median over the runs: the app server's,
    the store server's, wrk's, and the cores' idle time."""

    def texts(row: Row, mode: str, route: str) -> list[str]:
        splits = cells[(row, mode, route)].cpu
        medians = []
        for part in ("app", "store", "load", "idle"):
            values = [getattr(split, part) for split in splits]
            medians.append(f"{statistics.median(values):,.0f}" if values else "?")
        return medians

    columns = [("app µs", "---:"), ("store µs", "---:"), ("wrk µs", "---:"), ("idle µs", "---:")]
    intro = (
        "CPU per request by process (µs of user and system time, median over the rounds; "
        "idle: the cores' idle time per request):"
    )
    return "\n".join([intro, "", *_grid(rows, modes, routes, sessions, columns, texts)])


def _grid(
    rows: list[Row],
    modes: list[str],
    routes: list[str],
    sessions: int,
    columns: list[tuple[str, str]],
    texts: Callable[[Row, str, str], list[str]],
) -> list[str]:
    """A markdown table's lines, one per row and sessions mode: ``columns`` (name,
    alignment) for each route, the first named after it, filled by ``texts``."""
    header = ["sessions", "server", "variant"]
    for route in routes:
        header += [f"{route} {columns[0][0]}", *(name for name, _ in columns[1:])]
    lines = [_line(header), _line(["---"] * 3 + [align for _, align in columns] * len(routes))]
    for mode in modes:
        for row in rows:
            line = [
                MODE_LABELS[mode].format(sessions=f"{sessions:,}"),
                row.server,
                row.variant.label,
            ]
            for route in routes:
                line += texts(row, mode, route)
            lines.append(_line(line))
    return lines


def _extra_us(rps: float, base_rps: float) -> str:
    if not rps or not base_rps:
        return "?"
    extra = 1e6 / rps - 1e6 / base_rps
    return f"{extra:+,.0f}"


def _line(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def notes(cells: Cells, sessions: int, count: int) -> list[str]:
    """The legend, warnings and the compare-and-set figures, one line each."""
    found = [
        "ratio: req/s over the no-session server of the same server kind and worker count "
        "(Node's over Express without sessions); +µs/req: 1e6/rps - 1e6/rps of that "
        "baseline, the throughput cost of one request (server time across its workers, not "
        "a latency); p99: wrk's, the median over the rounds.",
        f"round trips/req: counted by the store's server over a separate closed loop of "
        f"{count} requests per cell at the same concurrency, every one answered: Redis "
        "commands sent (not those Lua scripts run inside), PostgreSQL top-level statements, "
        "memcached commands (get includes gets); '\u2013': no server to count (no sessions, "
        "file, memory).",
    ]
    if any(
        cell.row.variant.name == "database" and cell.row.kind == "uvicorn"
        for cell in cells.values()
    ):
        found.append(
            "database store under uvicorn: CONN_MAX_AGE = 0, Django's advice for ASGI (its "
            "connections belong to each request's context and cannot be reused), so each "
            "request opens a connection, and that connection's set-up statements (Django's "
            "time zone, the store's look-up of the database's) count in every request."
        )
    for cell in cells.values():
        mode = MODE_LABELS[cell.mode].format(sessions=f"{sessions:,}")
        where = f"{cell.row.label}, {mode}, {cell.route}"
        if cell.problems:
            found.append(f"⚠ {where}: {cell.problems}")
        if cell.counted and cell.is_redis_race:
            per_request = dict(cell.per_request())
            line = (
                f"{where}: per request {per_request.get('EVALSHA', 0):.2f} scripts and "
                f"{per_request.get('GET', 0):.2f} GETs (a GET is a re-read after a failed "
                "compare-and-set)"
            )
            if cell.shows_attempts:
                line += "; " + conflicts.describe(cell.attempts)
            found.append(line)
    return found


# -- the machine ----------------------------------------------------------------------------


def machine(backends: dict[str, Any]) -> list[str]:
    import django

    cpu = "unknown CPU"
    with _suppress():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    python = f"Python {platform.python_version()}, Django {django.__version__}"
    for module in (
        "gunicorn",
        "uvicorn",
        "django_redis",
        "redis",
        "hiredis",
        "psycopg",
        "pymemcache",
    ):
        with _suppress():
            version = __import__(module).__version__
            python += f", {module} {version}"
            if module == "uvicorn":
                python += f" ({_uvicorn_stack()})"
    node = _output(["node", "--version"]) or "node missing"
    packages = []
    for name in ("express", "express-session", "connect-redis", "redis"):
        with _suppress():
            manifest = json.loads((NODE_MODULES / name / "package.json").read_text())
            packages.append(f"{name} {manifest['version']}")
    servers = [f"{name} {backend.version()}" for name, backend in sorted(backends.items())]
    wrk = " ".join(_output(["wrk", "--version"]).split()[:2]) or "wrk"
    commit = _output(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]) or "?"
    return [
        f"Date: {time.strftime('%Y-%m-%d %H:%M %Z')}; checkout {commit}",
        f"Machine: {cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; "
        f"load average at start {load}",
        python,
        f"Node {node}: {', '.join(packages)}",
        f"Stores: {', '.join(servers) or 'none'}; load generator {wrk}",
    ]


def _uvicorn_stack() -> str:
    """What uvicorn's ``auto`` settings pick: httptools and uvloop when installed."""
    installed = importlib.util.find_spec
    http = "httptools" if installed("httptools") else "h11"
    loop = "uvloop" if installed("uvloop") else "asyncio"
    return f"{http}, {loop}"


def _output(argv: list[str]) -> str:
    """What a command prints (wrk prints its version and exits 1), or "" without it."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (done.stdout or done.stderr).strip()


# A version that cannot be read is left out of the description.
_suppress = partial(contextlib.suppress, Exception)
