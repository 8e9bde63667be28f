"""HTTP throughput with sessions: what a session middleware and its store cost per request,
under real servers and a real load generator.

Every server serves the same three routes: ``/noop`` (never touches the session),
``/read`` (reads one key) and ``/incr`` (increments a counter in the session). The Django
variants (no session middleware at all, Django's own cache engine on django-redis, and
this package on its redis, file, memory, database and cache stores) each run as sync
views under gunicorn (2 sync workers; 1 for the memory store, which lives in one
process) and as async views under uvicorn (1 process). Node runs Express 4 with
express-session 1.19 + connect-redis 9, the same store wrapped with ``share()`` of this
repository's npm package (``node/``), and without sessions as its own baseline. All use
``resave: false``, ``saveUninitialized: false`` and a one-day ``maxAge``.

Before measuring, each server makes ``--sessions`` sessions (one ``/incr`` each), then
serves ``--warmup`` seconds of ``/read`` over all of them, so that each worker has seen
each session (the steady state: under ``touchAfter`` a worker reads a session it has not
seen yet). wrk
(2 threads x 32 connections) then sends every request with the cookie of one of them,
picked at random ("N sessions"), or all with the cookie of one ("1 session": every
request overlaps others of its session, and ``/incr`` races). All servers run at once,
and the cells are measured in ``--rounds`` interleaved rounds, so a change in the
machine's load spreads over every cell instead of skewing a few.

Printed, per cell: requests per second; the ratio to the no-session server of the same
kind (gunicorn, uvicorn, Node); the extra microseconds each request costs in throughput
terms (1/rps - 1/rps of the baseline, not a latency); wrk's p99 latency (the median over
rounds); and the round trips each request sends its store, counted by the store's server
(see ``http_load/backends.py``) over a separate closed loop of ``--count`` requests at the
same concurrency: wrk stops with requests in flight, which Django under uvicorn cancels
half-way, so its runs cannot be counted exactly.

A second table gives, per cell, the CPU each process spent per request while wrk ran
(``http_load/cpu.py``): the app server's (its workers included), the store server's,
wrk's, and the cores' idle time, so a ratio's gap can be placed in the app, the store or
the waiting.

    .venv/bin/python benchmarks/http_load.py [--duration 5] [--only redis,database]
        [--servers gunicorn,uvicorn,node] [--routes /noop,/read,/incr]
        [--one-session | --spread] [--record tiny|1kb]

The full default run (18 servers, 108 cells of 5 s) takes about 13 minutes on 2 cores.

Needs wrk, redis-server, memcached, PostgreSQL's binaries and node with interop/node's
packages installed (``scripts/test`` installs all but wrk: ``apt-get install wrk``).
The servers it needs are started on free loopback ports and stopped at the end, on an
error or on ctrl-C.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.http_load import cpu, load, report, servers  # noqa: E402
from benchmarks.http_load.backends import (  # noqa: E402
    BenchmarkError,
    MemcachedServer,
    PostgresServer,
    RedisServer,
    require,
)
from tests.servers.process import Server  # noqa: E402

ROUTES = ["/noop", "/read", "/incr"]
#: The request that makes each session: ``tiny`` is ``{"n": 1}``; ``1kb`` is a logged-in
#: visitor's 1.1 KB record (``http_load/views.py``'s ``LOGGED_IN``).
RECORD_PATHS = {"tiny": "/incr", "1kb": "/fill"}


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=5, help="seconds of load per cell (5)")
    parser.add_argument(
        "--rounds", type=int, help="interleaved rounds per cell (default: up to 3, of at least 1 s)"
    )
    parser.add_argument(
        "--only",
        metavar="VARIANT[,VARIANT]",
        help=f"variants, comma-separated: {', '.join(servers.BY_NAME)} (their baselines are added)",
    )
    parser.add_argument(
        "--servers",
        metavar="KIND[,KIND]",
        default="gunicorn,uvicorn,node",
        help="server kinds (gunicorn,uvicorn,node)",
    )
    parser.add_argument(
        "--routes", metavar="ROUTE[,ROUTE]", default=",".join(ROUTES), help="(/noop,/read,/incr)"
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--one-session",
        action="store_true",
        help="only the cells where every request has the same session",
    )
    mode.add_argument(
        "--spread", action="store_true", help="only the cells spread over --sessions sessions"
    )
    parser.add_argument(
        "--sessions", type=int, default=1000, help="sessions made per server (1000)"
    )
    parser.add_argument(
        "--record",
        choices=sorted(RECORD_PATHS),
        default="tiny",
        help="the sessions' data: tiny ({\"n\": 1}) or 1kb (a logged-in visitor's record)",
    )
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument(
        "--count", type=int, default=200, help="requests per cell of the round-trip count (200)"
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=3,
        help="seconds of /read on each server first, over all its sessions (3)",
    )
    arguments = parser.parse_args()

    arguments.variants = (
        _choose(arguments.only, servers.BY_NAME, "variant") if arguments.only else servers.VARIANTS
    )
    arguments.kinds = _choose(arguments.servers, {k: k for k in servers.KIND_LABELS}, "server kind")
    routes = {route: route for route in ROUTES} | {route[1:]: route for route in ROUTES}
    arguments.routes = _choose(arguments.routes, routes, "route")
    arguments.modes = (
        ["one"] if arguments.one_session else ["spread"] if arguments.spread else ["spread", "one"]
    )
    if arguments.duration < 1:
        parser.error("--duration must be at least 1 (wrk counts whole seconds)")
    rounds = arguments.rounds or min(3, arguments.duration)
    if not 1 <= rounds <= arguments.duration:
        parser.error("--rounds must be between 1 and --duration (rounds last whole seconds)")
    # The duration shared out in whole seconds: 7 s in 5 rounds is 2, 2, 1, 1, 1.
    whole, extra = divmod(arguments.duration, rounds)
    arguments.round_seconds = [whole + (index < extra) for index in range(rounds)]
    return arguments


def _choose(text: str, known: dict, what: str) -> list:
    chosen = []
    for name in filter(None, (part.strip() for part in text.split(","))):
        if name not in known:
            raise SystemExit(f"unknown {what} {name!r}; choose from {', '.join(known)}")
        if known[name] not in chosen:
            chosen.append(known[name])
    return chosen


BEGUN = time.monotonic()


def progress(message: str) -> None:
    minutes, seconds = divmod(int(time.monotonic() - BEGUN), 60)
    print(f"{minutes:2d}:{seconds:02d} {message}", file=sys.stderr, flush=True)


def start_backends(rows: list[servers.Row], workdir: Path, stack: ExitStack) -> dict:
    """The stores' servers the rows need, each stopped when ``stack`` closes."""
    makers = {
        "redis": lambda: RedisServer(workdir / "redis"),
        "memcached": MemcachedServer,
        "postgres": PostgresServer,
    }
    needed = {row.variant.backend for row in rows} - {None}
    backends: dict = {}
    for name in sorted(needed):
        progress(f"starting {name}")
        try:
            backends[name] = makers[name]()
        except Exception as error:  # whatever went wrong, the user needs its message
            raise BenchmarkError(f"{name} did not start: {type(error).__name__}: {error}") from None
        stack.callback(backends[name].stop)
    return backends


def required_programs(rows: list[servers.Row]) -> list[str]:
    programs = {"wrk"}
    backends = {row.variant.backend for row in rows}
    programs |= {"redis-server"} if "redis" in backends else set()
    programs |= {"memcached"} if "memcached" in backends else set()
    programs |= {"initdb"} if "postgres" in backends else set()
    if any(row.kind == "node" for row in rows):
        programs.add("node")
        if not servers.NODE_MODULES.is_dir():
            raise BenchmarkError(f"{servers.NODE_MODULES} is missing: run `npm ci` in interop/node")
    return sorted(programs)


@dataclass(frozen=True)
class Started:
    """A row's running server, and for each sessions mode its cookies and their file."""

    server: Server
    cookies: dict[str, list[str]]
    files: dict[str, Path]


def start_servers(
    rows: list[servers.Row],
    backends: dict,
    workdir: Path,
    stack: ExitStack,
    sessions: int,
    record: str = "tiny",
) -> dict[servers.Row, Started]:
    """Start every row's server and make its sessions (``record``: see ``RECORD_PATHS``)."""
    for name in ("database", "django-db"):
        row = next((row for row in rows if row.variant.name == name), None)
        if row is not None:
            config = servers.django_config(row, backends, workdir)
            servers.migrate(config, workdir / f"migrate-{name}.log")
    started = {}
    for index, row in enumerate(rows, 1):
        progress(f"[{index}/{len(rows)}] starting {row.label}")
        server = servers.app_server(row, backends, workdir)
        stack.callback(server.stop)
        servers.start(server, row.label)
        if row.variant.baseline:
            cookies = load.fake_cookies(sessions)
        else:
            try:
                cookies = load.create_sessions(server.port, sessions, RECORD_PATHS[record])
            except (BenchmarkError, OSError) as error:
                raise BenchmarkError(f"{row.label}: {error}\n{servers.tail(server.log)}") from None
        by_mode = {"spread": cookies, "one": cookies[:1]}
        files = {
            mode: load.write_cookies(workdir / f"cookies-{index}-{mode}.txt", cookies)
            for mode, cookies in by_mode.items()
        }
        started[row] = Started(server, by_mode, files)
    return started


def measure(
    arguments: argparse.Namespace,
    rows: list[servers.Row],
    started: dict,
    cells: dict,
    backends: dict,
) -> None:
    """The wrk runs: every cell once per round, the rounds one after the other, with the
    CPU each process spent meanwhile (``cpu``)."""
    wrk = {"threads": arguments.threads, "connections": arguments.connections}
    # Every server first serves a few seconds of /read over all its sessions, so that
    # what each worker keeps per session it has seen (signatures, parsed cookies, under
    # touchAfter the last refresh) is in place: the cells measure the steady state, not
    # each worker's first sight of each session.
    for row in rows if arguments.warmup else []:
        port, cookies = started[row].server.port, started[row].files["spread"]
        load.run_wrk(port, "/read", cookies, seconds=arguments.warmup, **wrk)
    rounds = len(arguments.round_seconds)
    for number, seconds in enumerate(arguments.round_seconds, 1):
        progress(f"round {number}/{rounds}: {len(cells)} cells of {seconds} s")
        for (row, mode, route), cell in cells.items():
            server = started[row].server
            store = backends.get(row.variant.backend)
            store_pid = None if store is None else store.root_pid
            before = cpu.sample(server.process.pid, store_pid)
            result = load.run_wrk(
                server.port, route, started[row].files[mode], seconds=seconds, **wrk
            )
            cell.cpu.append(
                cpu.between(before, cpu.sample(server.process.pid, store_pid), result.requests)
            )
            cell.runs.append(result)
            # The requests wrk left in flight finish before the next cell starts.
            time.sleep(min(0.5, max(0.05, 1.2 * arguments.connections / max(result.rps, 1))))


def count_round_trips(
    arguments: argparse.Namespace, backends: dict, started: dict, cells: dict
) -> None:
    """Round trips per request, counted by each store's server over a closed-loop load
    of ``--count`` requests per cell at the same concurrency, all of them answered."""
    metered = [cell for cell in cells.values() if cell.metered]
    if metered:
        progress(f"counting round trips: {len(metered)} cells of {arguments.count} requests")
    for cell in metered:
        meter = backends[cell.row.variant.backend]
        meter.reset()
        statuses = load.closed_loop(
            started[cell.row].server.port,
            cell.route,
            started[cell.row].cookies[cell.mode],
            total=arguments.count,
            connections=arguments.connections,
        )
        cell.add_trips(statuses, meter.collect())


def _rounds(count: int) -> str:
    return "1 round" if count == 1 else f"{count} interleaved rounds"


def interrupt(signum, frame) -> None:
    """SIGTERM unwinds like ctrl-C, so every server is stopped."""
    raise KeyboardInterrupt


def main() -> int:
    arguments = parse_arguments()
    rows = servers.rows_for(arguments.variants, arguments.kinds)
    if not rows:
        raise SystemExit("nothing to run: no variant runs on the chosen server kinds")
    signal.signal(signal.SIGTERM, interrupt)
    try:
        with ExitStack() as stack:
            require(*required_programs(rows))
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="http-load-")))
            backends = start_backends(rows, workdir, stack)
            machine = report.machine(backends)
            started = start_servers(
                rows, backends, workdir, stack, arguments.sessions, arguments.record
            )
            cells = {
                (row, mode, route): report.Cell(row, mode, route, row.variant.backend is not None)
                for mode in arguments.modes
                for row in rows
                for route in arguments.routes
            }
            measure(arguments, rows, started, cells, backends)
            count_round_trips(arguments, backends, started, cells)
            progress("stopping servers")
    except BenchmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: every server was stopped", file=sys.stderr)
        return 130

    minutes = (time.monotonic() - BEGUN) / 60
    print("\n".join(f"{line}  " for line in machine))
    print(
        f"Load: wrk {arguments.threads} threads x {arguments.connections} connections, "
        f"{arguments.duration} s per cell in {_rounds(len(arguments.round_seconds))}; "
        f"{arguments.record} records; "
        f"run took {minutes:.1f} min\n"
    )
    print(report.table(cells, rows, arguments.modes, arguments.routes, arguments.sessions))
    print()
    print(report.cpu_table(cells, rows, arguments.modes, arguments.routes, arguments.sessions))
    print()
    print(
        "\n".join(f"* {line}" for line in report.notes(cells, arguments.sessions, arguments.count))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
