"""CPU per request of the session layer, in-process: no HTTP server, no load generator,
so a change to the request path can be measured in a few minutes.

Each configuration runs in a process of its own with ``http_load``'s settings and views
(the same ``BENCH_CONFIG``), and sends requests through Django's ``WSGIHandler`` with a
prebuilt WSGI environ, reading and closing every response (so ``request_finished``
runs). With ``--asgi`` it serves the async views instead, through Django's
``ASGIHandler`` in one event loop, one request after another (what uvicorn's single
process runs, without the HTTP parsing; thread hops to sync code count, as CPU of the
process). The configurations (``--only``):

* ``none``: no session middleware (the baseline every other figure is counted above);
* ``django-cache``: ``django.contrib.sessions``' cache engine on django-redis;
* ``django-db``: Django's db engine on PostgreSQL (with ``--postgres``);
* ``redis``, ``redis-touch-after`` (``touchAfter`` of an hour), ``memory``, and
  ``database`` (PostgreSQL, with ``--postgres``): this package on those stores.

Every process first makes ``--sessions`` sessions (one ``/incr``, or ``/fill`` for the
``1kb`` record, each), then cycles through their cookies; the baseline gets cookies of
the same shape. CPU is ``time.process_time()`` around ``--requests`` requests (user and
system time, so the kernel's loopback work counts), and the Redis server's own CPU is
read from ``/proc/<pid>/stat`` around the same requests. Each process warms up, then
makes ``--runs`` runs of every route, interleaved; the processes run round-robin
``--rounds`` times. Printed: µs per request above ``none``, **best** run (the least
disturbed: on a shared machine runs of one cell differ by ±20 % and more) and median,
and the Redis server's CPU per request (median).

    .venv/bin/python benchmarks/request_cpu.py [--record tiny,1kb] [--only redis,memory]
        [--postgres] [--asgi] [--rounds 2] [--runs 3] [--requests 1000] [--sessions 1000]
        [--profile /read]

``--profile ROUTE`` prints, per configuration, where that route's time goes (cProfile)
instead of the table.

``--instructions`` counts instead of timing: each route runs in processes of its own
under valgrind's callgrind, once with ``--requests`` requests and once with three times
as many, and the table gives the instructions per request (the difference over the extra
requests, thousands, above ``none``). Those are the same on a busy machine and an idle
one (within 0.1 %), so a change of a few µs shows, where timings on a shared machine
differ by more than that from one run to the next; but they leave out the kernel (the
socket calls), the Redis server, and what cache misses cost. With ``--sessions 100
--requests 200`` three configurations take 4 to 6 minutes per record. Needs valgrind.

The default run (5 configurations, both records) takes about 10 minutes on 2 busy cores,
most of it making the sessions; ``--only`` and ``--record`` shorten it.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.http_load import servers  # noqa: E402
from benchmarks.http_load.backends import PostgresServer, RedisServer  # noqa: E402
from benchmarks.http_load.load import fake_cookies  # noqa: E402

ROUTES = ["/noop", "/read", "/incr"]
RECORD_PATHS = {"tiny": "/incr", "1kb": "/fill"}
CONFIGS = ["none", "django-cache", "django-db", "redis", "redis-touch-after", "memory",
           "database"]  # fmt: skip
NEEDS_POSTGRES = {"django-db", "database"}
TICKS = os.sysconf("SC_CLK_TCK")


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", help="configurations, comma-separated (none is always run)")
    parser.add_argument("--record", default="tiny,1kb", help="records: tiny,1kb")
    parser.add_argument("--postgres", action="store_true", help="add django-db and database")
    parser.add_argument(
        "--asgi", action="store_true", help="async views through ASGIHandler, one event loop"
    )
    parser.add_argument("--rounds", type=int, default=2, help="round-robin rounds (2)")
    parser.add_argument("--runs", type=int, default=3, help="runs per route per process (3)")
    parser.add_argument("--requests", type=int, default=1000, help="requests per run (1000)")
    parser.add_argument("--sessions", type=int, default=1000, help="sessions per process (1000)")
    parser.add_argument(
        "--profile",
        metavar="ROUTE",
        help="profile ROUTE (cProfile) in each configuration and print where its time goes",
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions per request under valgrind's callgrind instead of timing",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--route", help=argparse.SUPPRESS)  # with --times: one route, counted
    parser.add_argument("--times", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    chosen = arguments.only.split(",") if arguments.only else CONFIGS
    if not arguments.postgres:
        chosen = [name for name in chosen if name not in NEEDS_POSTGRES]
    unknown = set(chosen) - set(CONFIGS)
    if unknown:
        parser.error(f"unknown configurations {sorted(unknown)}; choose from {CONFIGS}")
    arguments.configs = ["none", *(name for name in chosen if name != "none")]
    if arguments.instructions:
        if shutil.which("valgrind") is None:
            parser.error("--instructions needs valgrind (apt-get install valgrind)")
        arguments.rounds = 1  # the same count every time
    arguments.records = arguments.record.split(",")
    if set(arguments.records) - set(RECORD_PATHS):
        parser.error(f"--record takes {', '.join(RECORD_PATHS)}")
    return arguments


# -- the worker: one configuration in its own process ----------------------------------------


def redis_cpu_s(pid: int | None) -> float:
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


Headers = list[tuple[str, str]]
#: Sends one request to each cookie's session (None: no cookie) of a route, in order, and
#: gives each response's headers.
Requester = Callable[[str, list[str | None]], list[Headers]]


def wsgi_requester() -> Requester:
    from django.core.handlers.wsgi import WSGIHandler

    handler = WSGIHandler()
    base = {
        "REQUEST_METHOD": "GET",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }
    got: list = []

    def start_response(status, headers, exc_info=None):
        got[:] = [status, headers]

    def requests(path: str, cookies: list[str | None]) -> list[Headers]:
        answered = []
        for cookie in cookies:
            environ = dict(base, PATH_INFO=path)
            if cookie:
                environ["HTTP_COOKIE"] = cookie
            response = handler(environ, start_response)
            b"".join(response)
            response.close()
            if not got[0].startswith("200"):
                raise SystemExit(f"{path} answered {got[0]}")
            answered.append(got[1])
        return answered

    return requests


def asgi_requester() -> Requester:
    """Requests through ``ASGIHandler`` in one event loop, each run of them in one
    ``run_until_complete``; the client never disconnects (Django's listener for it is
    cancelled when the response is sent)."""
    import asyncio

    from django.core.handlers.asgi import ASGIHandler

    handler, loop = ASGIHandler(), asyncio.new_event_loop()
    never = loop.create_future()
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "root_path": "", "query_string": b"",
             "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 50000)}  # fmt: skip

    async def one(path: str, cookie: str | None) -> Headers:
        headers = [(b"host", b"127.0.0.1:8000")]
        if cookie:
            headers.append((b"cookie", cookie.encode()))
        body = iter([{"type": "http.request", "body": b"", "more_body": False}])
        sent: list[dict] = []

        async def receive() -> dict:
            message = next(body, None)
            return message if message is not None else await asyncio.shield(never)

        async def send(message: dict) -> None:
            sent.append(message)

        await handler(dict(scope, path=path, raw_path=path.encode(), headers=headers),
                      receive, send)  # fmt: skip
        if sent[0]["status"] != 200:
            raise SystemExit(f"{path} answered {sent[0]['status']}")
        return [(k.decode("latin1"), v.decode("latin1")) for k, v in sent[0]["headers"]]

    async def many(path: str, cookies: list[str | None]) -> list[Headers]:
        return [await one(path, cookie) for cookie in cookies]

    return lambda path, cookies: loop.run_until_complete(many(path, cookies))


def worker(arguments: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.core.management import call_command

    config = json.loads(os.environ["BENCH_CONFIG"])
    if config.get("databases"):
        call_command("migrate", verbosity=0, interactive=False)
    requests = asgi_requester() if config["async"] else wsgi_requester()

    if config["sessions"] == "none":
        cookies = fake_cookies(arguments.sessions)
    else:
        cookies = []
        for headers in requests(
            RECORD_PATHS[os.environ["BENCH_RECORD"]], [None] * arguments.sessions
        ):
            cookies += [v.split(";", 1)[0] for k, v in headers if k.lower() == "set-cookie"]
        if len(set(cookies)) != arguments.sessions:
            raise SystemExit("sessions were not made: no Set-Cookie, or the same twice")
    pid = int(os.environ["BENCH_REDIS_PID"]) if "BENCH_REDIS_PID" in os.environ else None
    for route in ROUTES:  # warm-up
        requests(
            route, [cookies[index % len(cookies)] for index in range(min(500, arguments.requests))]
        )
    if arguments.times:  # counted from outside (--instructions): no timing
        sent = [cookies[index % len(cookies)] for index in range(arguments.requests)]
        for _ in range(arguments.times):
            requests(arguments.route, sent)
        return
    if arguments.profile:
        sent = [cookies[index % len(cookies)] for index in range(arguments.requests)]
        profile(arguments, lambda: requests(arguments.profile, sent))
        return
    results: dict[str, list[list[float]]] = {route: [] for route in ROUTES}
    offset = 0
    for _ in range(arguments.runs):
        for route in ROUTES:
            sent = [
                cookies[index % len(cookies)]
                for index in range(offset, offset + arguments.requests)
            ]
            redis_before, before = redis_cpu_s(pid), time.process_time()
            requests(route, sent)
            spent, redis_spent = time.process_time() - before, redis_cpu_s(pid) - redis_before
            offset += arguments.requests
            per = 1e6 / arguments.requests
            results[route].append([spent * per, redis_spent * per])
    print("RESULT " + json.dumps(results))


def profile(arguments: argparse.Namespace, send) -> None:
    """Where one route's time goes: the functions with the most time of their own, and
    the most cumulative time, per request."""
    import cProfile
    import pstats

    profiler = cProfile.Profile(time.process_time)  # CPU, as the table counts
    profiler.enable()
    send()
    profiler.disable()
    out = io.StringIO()
    if os.environ.get("BENCH_PROFILE_DUMP"):
        profiler.dump_stats(os.environ["BENCH_PROFILE_DUMP"])
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(45)
    print(f"PROFILE {arguments.requests} requests\n{out.getvalue()}")


# -- the driver ----------------------------------------------------------------------------


def run_config(arguments, name: str, record: str, backends: dict, workdir: Path) -> dict:
    row = servers.Row(servers.BY_NAME[name], "uvicorn" if arguments.asgi else "gunicorn", 2)
    config = servers.django_config(row, backends, workdir)
    env = servers.django_environment(config) | {"BENCH_RECORD": record}
    if "redis" in backends and row.variant.backend == "redis":
        env["BENCH_REDIS_PID"] = str(backends["redis"].server.process.pid)
    argv = [sys.executable, __file__, "--worker", name, "--runs", str(arguments.runs),
            "--requests", str(arguments.requests), "--sessions", str(arguments.sessions)]  # fmt: skip
    if arguments.profile:
        argv += ["--profile", arguments.profile]
    if arguments.instructions:
        return {route: [[instructions_per_request(argv, env, route, arguments.requests), 0]]
                for route in ROUTES}  # fmt: skip
    done = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=ROOT)
    if arguments.profile and not done.returncode:
        print(f"## {name} ({record} record), {arguments.profile}\n")
        print(done.stdout.split("PROFILE ", 1)[-1])
        return {}
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise SystemExit(f"{name} ({record}) failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def instructions_per_request(argv: list[str], env: dict, route: str, requests: int) -> float:
    """The instructions one request of ``route`` takes: two processes under callgrind
    (run side by side), the second sending the requests three times, and the difference
    over the extra requests (what making the sessions and warming up cost cancels out).
    Hash randomisation is off, so that dicts and sets are built alike in both."""
    with tempfile.TemporaryDirectory(prefix="callgrind-") as directory:
        running = []
        for times in (1, 3):
            out = Path(directory) / f"{times}.out"
            command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                       *argv, "--route", route, "--times", str(times)]  # fmt: skip
            process = subprocess.Popen(
                command,
                env={**env, "PYTHONHASHSEED": "0"},
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            running.append((process, out))
        totals = []
        for process, out in running:
            stdout, stderr = process.communicate()
            if process.returncode or not out.exists():
                raise SystemExit(
                    f"callgrind run of {route} failed:\n{stdout[-2000:]}{stderr[-3000:]}"
                )
            summary = [line for line in out.read_text().splitlines() if line.startswith("summary:")]
            totals.append(int(summary[0].split()[1]))
    return (totals[1] - totals[0]) / (2 * requests)


def flush(backends: dict) -> None:
    """Every configuration starts from an empty Redis (its sessions are its own)."""
    if "redis" in backends:
        backends["redis"].client.flushall()


def instructions_table(collected: dict, configs: list[str], record: str) -> list[str]:
    lines = [
        f"### {record} record: thousands of instructions per request above `none`",
        "",
        "| configuration | /noop | /read | /incr |",
        "|---|---:|---:|---:|",
    ]
    base = {route: collected["none"][route][0][0] for route in ROUTES}
    for name in configs:
        counts = [collected[name][route][0][0] for route in ROUTES]
        if name == "none":
            cells = [f"{count / 1000:.0f} (absolute)" for count in counts]
        else:
            cells = [f"+{(c - base[r]) / 1000:.1f}" for c, r in zip(counts, ROUTES, strict=True)]
        lines.append(f"| {servers.BY_NAME[name].label} | {' | '.join(cells)} |")
    return lines


def table(collected: dict, configs: list[str], record: str) -> list[str]:
    lines = [
        f"### {record} record: µs of CPU per request above `none` (best / median)",
        "",
        "| configuration | /noop | /read | /incr | Redis CPU /noop, /read, /incr (median) |",
        "|---|---:|---:|---:|---|",
    ]
    base = {route: collected["none"][route] for route in ROUTES}
    best_base = {route: min(run[0] for run in base[route]) for route in ROUTES}
    median_base = {route: statistics.median(run[0] for run in base[route]) for route in ROUTES}
    for name in configs:
        runs = collected[name]
        cells = []
        for route in ROUTES:
            best = min(run[0] for run in runs[route])
            median = statistics.median(run[0] for run in runs[route])
            if name == "none":
                cells.append(f"{best:.0f} / {median:.0f} (absolute)")
            else:
                cells.append(f"+{best - best_base[route]:.0f} / +{median - median_base[route]:.0f}")
        redis = ", ".join(
            f"{statistics.median(run[1] for run in runs[route]):.0f}" for route in ROUTES
        )
        label = servers.BY_NAME[name].label
        lines.append(f"| {label} | {' | '.join(cells)} | {redis if name != 'none' else ''} |")
    return lines


def main() -> int:
    arguments = parse_arguments()
    if arguments.worker:
        worker(arguments)
        return 0
    begun = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="request-cpu-") as directory:
        workdir = Path(directory)
        backends: dict = {"redis": RedisServer(workdir / "redis")}
        try:
            if set(arguments.configs) & NEEDS_POSTGRES:
                backends["postgres"] = PostgresServer()
            collected: dict = {}
            for record in arguments.records:
                runs: dict[str, dict[str, list]] = {}
                for number in range(arguments.rounds):
                    for name in arguments.configs:
                        print(f"{record} round {number + 1}: {name}", file=sys.stderr, flush=True)
                        flush(backends)
                        result = run_config(arguments, name, record, backends, workdir)
                        for route, values in result.items():
                            runs.setdefault(name, {}).setdefault(route, []).extend(values)
                collected[record] = runs
            if arguments.profile:
                return 0
            versions = report_machine(backends)
        finally:
            for backend in backends.values():
                backend.stop()
    print("\n".join(versions))
    handler = "ASGIHandler, async views" if arguments.asgi else "WSGIHandler, sync views"
    if arguments.instructions:
        print(
            f"{handler}; valgrind's callgrind, instructions of the app's process in user space "
            f"only; ({3 * arguments.requests} - {arguments.requests}) requests per cell, "
            f"{arguments.sessions} sessions; {(time.monotonic() - begun) / 60:.1f} min\n"
        )
    else:
        print(
            f"{handler}; {arguments.rounds} rounds x {arguments.runs} runs x "
            f"{arguments.requests} requests per cell, {arguments.sessions} sessions; "
            f"{(time.monotonic() - begun) / 60:.1f} min\n"
        )
    for record in arguments.records:
        make = instructions_table if arguments.instructions else table
        print("\n".join(make(collected[record], arguments.configs, record)))
        print()
    return 0


def report_machine(backends: dict) -> list[str]:
    from benchmarks.http_load import report

    return [f"{line}  " for line in report.machine(backends)]


if __name__ == "__main__":
    sys.exit(main())
