"""Compare-and-set conflicts of the redis store, from the commands each connection sent.

A gunicorn sync worker serves one request at a time over one Redis connection, so that
connection's commands are its requests' commands, in order. For this package's ``/incr``
a request reads with one script and saves with another (a compare-and-set); when the
session changed in between, the save fails and the request reads again and retries.
So, per connection: a request starts at each run of the script the connection ran first
(the read), and its number of save attempts is the number of other scripts before the
next read.

Under uvicorn the requests of one process share a pool of connections from several
threads, so a connection's commands are not one request's: only the means are known
there (the ``GET``s, each a re-read after a failed save, and the scripts per request).
"""

from __future__ import annotations

from collections import Counter

SCRIPT = "EVALSHA"


def save_attempts(by_connection: dict[str, list[tuple[str, str]]]) -> Counter[int]:
    """How many requests made 1, 2, 3... save attempts (the keys)."""
    attempts: Counter[int] = Counter()
    for commands in by_connection.values():
        scripts = [sha for name, sha in commands if name == SCRIPT]
        if not scripts:
            continue
        read_script = scripts[0]
        current: int | None = None
        for sha in scripts:
            if sha == read_script:
                if current is not None:
                    attempts[current] += 1
                current = 0
            elif current is not None:
                current += 1
        if current is not None:
            attempts[current] += 1
    return attempts


def describe(attempts: Counter[int]) -> str:
    """``1: 62 %, 2: 25 %, 3: 9 %, 4+: 4 %`` of the requests made that many attempts."""
    total = sum(attempts.values())
    if not total:
        return "no requests seen"
    shown = []
    for count in (0, 1, 2, 3):
        if attempts.get(count):
            shown.append((str(count), attempts[count]))
    more = sum(n for count, n in attempts.items() if count >= 4)
    if more:
        shown.append(("4+", more))
    parts = [f"{label}: {_percent(n, total)}" for label, n in shown]
    return f"save attempts per request ({total} requests) " + ", ".join(parts)


def _percent(part: int, total: int) -> str:
    share = 100 * part / total
    return "<1 %" if 0 < share < 1 else f"{share:.0f} %"
