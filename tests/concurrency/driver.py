"""The race: one session, many requests at once, each adding a key of its own.

A request counts as *written* when the server answered it with a 2xx (it says the key
was saved); a key is *found* when the session, read back at the end, holds it. A server
that loses updates finds fewer keys than it wrote.
"""

from __future__ import annotations

import http.client
import json
import threading
from dataclasses import dataclass, field


@dataclass
class RaceResult:
    requests: int
    written: int
    found: int
    statuses: dict[int, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return self.written - self.found

    @property
    def loss_percent(self) -> float:
        return 100.0 * self.lost / self.written if self.written else 0.0


def get(port: int, path: str, cookie: str | None = None) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", path, headers={"Cookie": cookie} if cookie else {})
    response = connection.getresponse()
    response.body = response.read()  # type: ignore[attr-defined]
    connection.close()
    return response


def cookie_of(response: http.client.HTTPResponse) -> str:
    """The ``name=value`` pairs of a response's ``Set-Cookie`` lines, as a Cookie header."""
    pairs = [line.split(";", 1)[0] for line in response.headers.get_all("Set-Cookie") or []]
    if not pairs:
        raise AssertionError(f"the server set no cookie (status {response.status})")
    return "; ".join(pairs)


def race(port: int, requests: int = 20, prefix: str = "k") -> RaceResult:
    """Start a session, fire ``requests`` requests at once that each set ``<prefix><i>``,
    then read the session back."""
    cookie = cookie_of(get(port, "/set?started=yes"))
    barrier = threading.Barrier(requests)
    statuses: list[int] = [0] * requests

    def add(index: int) -> None:
        barrier.wait()
        statuses[index] = get(port, f"/set?{prefix}{index}=yes", cookie).status

    threads = [threading.Thread(target=add, args=(index,)) for index in range(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    final = get(port, "/session", cookie)
    data = json.loads(final.body)["data"] or {}  # type: ignore[attr-defined]
    written = [f"{prefix}{i}" for i, status in enumerate(statuses) if 200 <= status < 300]
    missing = [key for key in written if key not in data]
    counts: dict[int, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    return RaceResult(requests, len(written), len(written) - len(missing), counts, missing)
