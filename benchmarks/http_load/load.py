"""The load: sessions made before measuring, wrk runs that spread requests over them, and
the closed loop the round trips are counted under.

Sessions are made by the server under test, one ``/incr`` per session, so every
measured request carries the cookie of a live session (as a returning visitor does) and
``/read`` finds ``n``. A server without sessions gets cookies of the same size, so its
requests are the same bytes.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import random
import secrets
import signal
import subprocess
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .backends import BenchmarkError

LUA_SCRIPT = Path(__file__).with_name("sessions.lua")
RESULT_MARK = "WRK_RESULT "


def get(port: int, path: str, cookie: str | None = None) -> tuple[int, str, str | None]:
    """Status, body and the ``name=value`` pairs of the response's cookies (or None)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = connection.getresponse()
        body = response.read().decode(errors="replace")
        lines = response.headers.get_all("Set-Cookie") or []
    finally:
        connection.close()
    pairs = "; ".join(line.split(";", 1)[0] for line in lines)
    return response.status, body, pairs or None


def create_sessions(port: int, count: int, path: str = "/incr") -> list[str]:
    """``count`` new sessions, each made by one ``path`` request (``/incr``, or ``/fill``
    for the 1 KB record); their Cookie headers."""

    def create(_: int) -> str:
        status, body, cookie = get(port, path)
        if status != 200 or cookie is None:
            raise BenchmarkError(
                f"{path} without a cookie answered {status} {body[:200]!r} and set no cookie"
            )
        return cookie

    cookies = _in_threads(create, range(count), 16)
    if len(set(cookies)) != count:
        raise BenchmarkError("the server gave the same session to two new visitors")
    # The sessions must have been stored: a request with the cookie sees the counter (1).
    for cookie in cookies[:: max(1, count // 20)]:
        status, body, _ = get(port, "/read", cookie)
        if status != 200 or body != "1":
            raise BenchmarkError(f"a session made by /incr reads back as {status} {body!r}, not 1")
    return cookies


def fake_cookies(count: int) -> list[str]:
    """Cookies shaped like ``connect.sid=s%3A<32-char id>.<43-char signature>``."""
    return [
        f"connect.sid=s%3A{secrets.token_urlsafe(24)}.{secrets.token_urlsafe(32)[:43]}"
        for _ in range(count)
    ]


def write_cookies(path: Path, cookies: list[str]) -> Path:
    path.write_text("".join(f"{cookie}\n" for cookie in cookies))
    return path


@dataclass(frozen=True)
class WrkResult:
    requests: int  # responses received
    seconds: float
    p50_ms: float
    p99_ms: float
    socket_errors: int  # connect, read, write errors and timeouts
    bad_statuses: int  # responses that were not 2xx or 3xx

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run_wrk(
    port: int,
    route: str,
    cookie_file: Path,
    *,
    seconds: float,
    threads: int,
    connections: int,
) -> WrkResult:
    argv = [
        "wrk",
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={max(1, round(seconds))}s",
        "--timeout=10s",
        f"--script={LUA_SCRIPT}",
        f"http://127.0.0.1:{port}{route}",
        "--",
        str(cookie_file),
    ]
    # A process group of its own, killed with the benchmark on ctrl-C.
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        output, _ = process.communicate(timeout=seconds + 60)
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    marked = [line for line in output.splitlines() if line.startswith(RESULT_MARK)]
    if process.returncode or not marked:
        raise BenchmarkError(f"wrk failed ({process.returncode}):\n{output}")
    raw = json.loads(marked[-1][len(RESULT_MARK) :])
    return WrkResult(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        p50_ms=raw["p50_us"] / 1e3,
        p99_ms=raw["p99_us"] / 1e3,
        socket_errors=raw["connect"] + raw["read"] + raw["write"] + raw["timeout"],
        bad_statuses=raw["status"],
    )


def closed_loop(
    port: int, route: str, cookies: list[str], *, total: int, connections: int
) -> Counter[int]:
    """Exactly ``total`` requests over ``connections`` concurrent keep-alive connections
    (a thread each), every one answered before this returns; the count of each status.

    This is the load the round trips are counted under: wrk stops with requests in
    flight, which some servers finish and others (Django under uvicorn) cancel half-way,
    so the requests a wrk run made reach the store an unknown number of times.
    """
    tickets = itertools.count()
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def client(_: int) -> None:
        # http.client reconnects by itself after a "Connection: close" (gunicorn sync).
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            while next(tickets) < total:
                connection.request("GET", route, headers={"Cookie": random.choice(cookies)})
                response = connection.getresponse()
                response.read()
                with lock:
                    statuses[response.status] += 1
        finally:
            connection.close()

    try:
        _in_threads(client, range(connections), connections)
    except BaseException:
        for _ in itertools.islice(tickets, total):
            pass  # no ticket left: the clients stop after their current request
        raise
    return statuses


def _in_threads(function, items, threads: int) -> list:
    """``map`` over a thread pool that, on ctrl-C, drops the calls not yet started."""
    pool = ThreadPoolExecutor(threads)
    try:
        return list(pool.map(function, items))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
