"""Memory of the memory store under unbounded unique-visitor churn.

Every request of a new visitor stores a session (saveUninitialized: true, the express
default), so a store that only expires on read grows without end. This drives N new
sessions through the store with a short maxAge and prints the entry count and the traced
memory every step: with expiry swept on write and the LRU bound, both stay flat.

    .venv/bin/python benchmarks/memory_store.py [visitors] [maxAge ms]
"""

from __future__ import annotations

import sys
import time
import tracemalloc

from django_express_session.cookie import Cookie
from django_express_session.ids import generate_sid
from django_express_session.stores.memory import MemoryStore


def main(visitors: int = 1_000_000, max_age_ms: int = 200) -> None:
    store = MemoryStore.from_options({"max": 50_000})
    tracemalloc.start()
    started = time.perf_counter()
    print(f"{'sessions written':>16} {'entries':>8} {'heap items':>10} {'traced MiB':>10}")
    step = visitors // 10
    for index in range(1, visitors + 1):
        cookie = Cookie()
        cookie.max_age = max_age_ms
        store.create(generate_sid(), {"cookie": cookie.to_json(), "views": 1})
        if index % step == 0:
            current, _ = tracemalloc.get_traced_memory()
            print(
                f"{index:>16,} {len(store._entries):>8,} {len(store._expiry_heap):>10,} "
                f"{current / 2**20:>10.1f}"
            )
    elapsed = time.perf_counter() - started
    print(f"{visitors:,} sessions in {elapsed:.1f} s ({visitors / elapsed:,.0f}/s)")


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:3]))
