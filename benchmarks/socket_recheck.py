"""What an open WebSocket costs per ``socketRecheck`` interval: the check that its session
still stands (``django_express_session.channels.SessionWatch.check``), for many sockets
at once on one event loop, as a server holding them runs it.

For each store and ``touchAfter`` setting, ``--sockets`` sessions are stored, one watch
per session is made, and every watch checks ``--rounds`` times (all sockets of a round
concurrently). Reported per socket and check: wall time of a round divided by the
sockets, the process's CPU time, and for Redis the round trips (the commands clients
sent, as ``MONITOR`` shows them; not what a Lua script runs inside the server). A check is one read; under ``touchAfter`` a touch is added only
when one is due (the "due every check" row forces that case).

    .venv/bin/python benchmarks/socket_recheck.py [--sockets 1000] [--rounds 5]

Needs redis-server (started here on a free port).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from tests.servers.redis import commands_sent, redis_url, start_redis  # noqa: E402

SECRET = "socket recheck"
HOUR_MS = 3_600_000
#: Checks in flight at once.
IN_FLIGHT = 32
# touchAfter settings: (label, seconds or None)
TOUCH_AFTER = [
    ("off (the socket never touches)", None),
    ("600 s (not due: read only)", 600),
    ("0.001 s (due every check: read + touch)", 0.001),
]


def set_up(url: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.interop.settings"
    os.environ["INTEROP_EXPRESS_SESSION"] = json.dumps({"secret": SECRET})
    os.environ["INTEROP_CACHES"] = json.dumps(
        {"sessions": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": url}}
    )
    import django

    django.setup()


def watches(backend: dict, touch_after: float | None, count: int):
    from django_express_session import conf
    from django_express_session.channels import SessionWatch
    from django_express_session.cookie import Cookie

    config = {"secret": SECRET, "cookie": {"maxAge": HOUR_MS}, "store": backend}
    if touch_after is not None:
        config["touchAfter"] = touch_after
    options = conf.parse(config)
    store = conf.build_store(options.store, options.lifetime)
    cookie = Cookie()
    cookie.max_age = HOUR_MS
    made = []
    for number in range(count):
        sid = f"socket-bench-{number:06d}"
        store.destroy(sid)
        store.create(sid, {"cookie": cookie.to_json(), "_auth_user_id": str(number)})
        made.append(SessionWatch(sid, (str(number), None), options, store))
    return store, made


async def rounds(made, count: int) -> float:
    # Sockets accepted at different moments check at different moments; a round here
    # runs them all at once, so the checks in flight are bounded as a connection pool
    # bounds them.
    in_flight = asyncio.Semaphore(IN_FLIGHT)

    async def check(watch) -> bool:
        async with in_flight:
            return await watch.check()

    started = time.perf_counter()
    for _ in range(count):
        results = await asyncio.gather(*(check(watch) for watch in made))
        assert all(results), "every session stands"
    return time.perf_counter() - started


def measure(backend: dict, touch_after, sockets: int, count: int, client) -> dict:
    store, made = watches(backend, touch_after, sockets)
    asyncio.run(rounds(made, 1))  # connections opened, scripts loaded
    sent = None
    if client is not None:  # one round under MONITOR: the round trips, not the timings
        sent = len(commands_sent(client, lambda: asyncio.run(rounds(made, 1)))) / sockets
    cpu = time.process_time()
    wall = asyncio.run(rounds(made, count))
    cpu = time.process_time() - cpu
    checks = sockets * count
    store.close()
    return {"wall_us": wall / checks * 1e6, "cpu_us": cpu / checks * 1e6, "commands": sent}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        server = start_redis(Path(directory) / "redis")
        try:
            url = redis_url(server)
            set_up(url)
            client = redis.Redis(port=server.port)
            backends = [
                ("redis", {"backend": "redis", "options": {"alias": "sessions"}}, client),
                ("memory", {"backend": "memory", "options": {}}, None),
            ]
            print(f"{args.sockets} open sockets, {args.rounds} checks each\n")
            print("| store | touchAfter | wall per check | CPU per check | Redis round trips |")
            print("|---|---|---|---|---|")
            for name, backend, stats in backends:
                for label, touch_after in TOUCH_AFTER:
                    row = measure(backend, touch_after, args.sockets, args.rounds, stats)
                    sent = "" if row["commands"] is None else f"{row['commands']:.2f}"
                    print(
                        f"| {name} | {label} | {row['wall_us']:.0f} µs "
                        f"| {row['cpu_us']:.0f} µs | {sent} |"
                    )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
