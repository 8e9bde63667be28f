"""What ``manage.py sessionevents`` costs: CPU time per keyspace event, and how long an
Express login waits before the per-user index lists it, alone and in a burst.

A redis-server on loopback (as the tests start it); the listener (``stores.redis.events``)
in this process, on the redis store; the logins written from another process exactly
as connect-redis writes them (``SET sess:<sid> <JSON with passport.user> EX <ttl>``:
two events each, ``set`` and ``expire``), so the listener's process does nothing else.

- single: one login at a time, ``--single`` of them 20 ms apart; the lag is from the
  write's reply until ``SISMEMBER`` on the user's set says yes (polled every 0.2 ms).
- burst: ``--burst`` logins of 1,000 users, pipelined 100 at a time as fast as the
  writer goes; the lag is from the last write's reply until every login is filed, and
  the CPU time is this process's over the burst, per event.

    .venv/bin/python benchmarks/session_events.py [--single 200] [--burst 20000]

Needs redis-server.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import django  # noqa: E402
import redis  # noqa: E402
from django.conf import settings  # noqa: E402

from tests.servers.redis import start_redis  # noqa: E402

WRITER = r"""
import json, sys, time, redis
port, count, users, tag = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
client = redis.Redis(port=port)
pipe = client.pipeline(transaction=False)
for n in range(count):
    record = {"cookie": {"originalMaxAge": 3600000, "expires": "2099-01-01T00:00:00.000Z",
              "httpOnly": True, "path": "/"}, "passport": {"user": f"user{n % users}"}}
    pipe.set(f"sess:{tag}{n}", json.dumps(record, separators=(",", ":")), ex=3600)
    if len(pipe) >= 100:
        pipe.execute()
pipe.execute()
print(time.time())
"""


def single_lags(client: redis.Redis, count: int) -> list[float]:
    lags = []
    record = {"cookie": {"originalMaxAge": 3600000, "expires": "2099-01-01T00:00:00.000Z"}}
    for n in range(count):
        sid, user = f"one{n}", f"single{n}"
        value = json.dumps({**record, "passport": {"user": user}}, separators=(",", ":"))
        key = f'users:sess:p:"{user}"'
        client.set(f"sess:{sid}", value, ex=3600)
        written = time.perf_counter()
        while not client.sismember(key, sid):
            time.sleep(0.0002)
        lags.append((time.perf_counter() - written) * 1000)
        time.sleep(0.02)
    return lags


def burst(port: int, listener, count: int) -> tuple[float, float, int]:
    """(lag in ms after the last write, CPU ms of this process, events handled)."""
    events_before = listener.counts.events
    cpu_before = time.process_time()
    done = subprocess.run(
        [sys.executable, "-c", WRITER, str(port), str(count), "1000", f"b{time.time_ns()}"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    last_write = float(done.stdout)
    while listener.counts.events - events_before < 2 * count:  # counted once filed
        time.sleep(0.001)
    lag = (time.time() - last_write) * 1000
    cpu = (time.process_time() - cpu_before) * 1000
    return lag, cpu, listener.counts.events - events_before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--single", type=int, default=200)
    parser.add_argument("--burst", type=int, default=20_000)
    args = parser.parse_args()
    settings.configure()
    django.setup()
    from django_express_session.stores.redis import RedisStore
    from django_express_session.stores.redis.events import Listener

    with tempfile.TemporaryDirectory() as directory:
        server = start_redis(Path(directory))
        try:
            client = redis.Redis(port=server.port)
            store = RedisStore.from_options({"client": redis.Redis(port=server.port)})
            listener = Listener(store, beat=1.0)
            thread = threading.Thread(target=listener.run, daemon=True)
            thread.start()
            while not listener.live:
                time.sleep(0.01)
            lags = single_lags(client, args.single)
            print(f"redis-server {client.info()['redis_version']}, redis-py {redis.__version__}")
            print(
                f"single login, {args.single} of them: lag median {statistics.median(lags):.2f} ms, "
                f"p95 {statistics.quantiles(lags, n=20)[-1]:.2f} ms, worst {max(lags):.2f} ms"
            )
            lag, cpu, events = burst(server.port, listener, args.burst)
            print(
                f"burst of {args.burst:,} logins ({events:,} events): filed {lag:.0f} ms after "
                f"the last write; CPU {cpu / events * 1000:.1f} µs per event "
                f"({cpu / args.burst * 1000:.1f} µs per login)"
            )
            listener.stop()
            thread.join(10)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
