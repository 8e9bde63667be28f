"""CPU time by process around a cell, per request: the app server (its process and every
process under it, such as gunicorn's workers), the store's server (likewise, PostgreSQL's
backends), the load generator (wrk, a child of this process, counted once it exits), and
the time the cores sat idle. Read from /proc (Linux) in clock ticks, so a cell of a few
seconds gives figures to a few µs per request.

A throughput ratio says that a configuration costs more, not where: the app's own CPU, the
store's, or waiting (two sync workers block on each round trip, and the cores then idle).
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass

TICK_S = 1 / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sample:
    """CPU seconds spent so far."""

    app: float
    store: float
    load: float
    idle: float


@dataclass(frozen=True)
class Split:
    """µs per request between two samples."""

    app: float
    store: float
    load: float
    idle: float


def _stat(pid: str) -> tuple[int, float] | None:
    """The parent and the CPU seconds (user and system) of one process; None: gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            text = stat.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the name may hold spaces
    return int(fields[1]), (int(fields[11]) + int(fields[12])) * TICK_S


def tree_seconds(roots: tuple[int, ...]) -> tuple[float, ...]:
    """The CPU seconds of each root process and every process under it."""
    parents, seconds = {}, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(entry)) is not None:
            parents[int(entry)], seconds[int(entry)] = stat
    totals = []
    for root in roots:
        total = 0.0
        for pid in seconds:
            ancestor = pid
            while ancestor not in (root, 0, 1) and ancestor in parents:
                ancestor = parents[ancestor]
            if ancestor == root:
                total += seconds[pid]
        totals.append(total)
    return tuple(totals)


def _idle_seconds() -> float:
    with open("/proc/stat") as stat:
        ticks = [int(value) for value in stat.readline().split()[1:]]
    return (ticks[3] + ticks[4]) * TICK_S  # idle and iowait, all cores


def sample(app_pid: int, store_pid: int | None) -> Sample:
    roots = (app_pid,) if store_pid is None else (app_pid, store_pid)
    trees = tree_seconds(roots)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Sample(
        app=trees[0],
        store=trees[1] if store_pid is not None else 0.0,
        load=children.ru_utime + children.ru_stime,
        idle=_idle_seconds(),
    )


def between(before: Sample, after: Sample, requests: int) -> Split:
    per = 1e6 / max(requests, 1)
    return Split(
        app=(after.app - before.app) * per,
        store=(after.store - before.store) * per,
        load=(after.load - before.load) * per,
        idle=(after.idle - before.idle) * per,
    )
