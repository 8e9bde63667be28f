"""What ``django_express_session.otel`` costs a request: microseconds per request of the
session middleware in-process (``RequestFactory`` requests, the memory store, ``resave:
false``, ``saveUninitialized: false``), with the instrumentation off (never switched
on: each store operation then costs one attribute read and one comparison) and on (the
OpenTelemetry SDK's tracer with a batch span processor whose exporter drops the spans,
and its meter with an in-memory reader that is never collected: the cost of making the
spans and recording the metrics, not of shipping them).

Three requests, as in ``request_path.py``: a new visitor whose session is written (a
create), a returning one whose view reads (a read), one whose view writes (a read and a
compare-and-set). The time is the process's CPU time (every thread's), not the wall
clock's, which on a shared machine also counts the waits for a core. The cells are
measured in ``--rounds`` interleaved rounds of ``--requests`` requests each, and the
best round is printed (as ``timeit`` does).

``--tree PATH`` imports the package from another checkout (e.g. ``/work/main``) for the
"off" figures, to compare the cost with no observer hook at all; ``--modes off`` then
measures this checkout alike (the "on" rounds leave garbage that slows the "off" ones
of the same process).

    .venv/bin/python benchmarks/otel_overhead.py [--rounds 15] [--requests 2000]
        [--tree PATH] [--modes off,on]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _setup(tree: Path) -> None:
    sys.path.insert(0, str(tree))
    sys.path.insert(1, str(ROOT))  # testproject, when the tree has none
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")
    import django

    django.setup()


EXPRESS = {
    "secret": "otel-overhead",
    "resave": False,
    "saveUninitialized": False,
    "cookie": {"maxAge": 86_400_000},
    "store": {"backend": "memory"},
}


def _requests() -> dict[str, Callable[[], object]]:
    from django.http import HttpResponse
    from django.test import RequestFactory

    from django_express_session.middleware import SessionMiddleware

    def read(request):
        return HttpResponse(str(request.session.get("n")))

    def write(request):
        request.session["n"] = request.session.get("n", 0) + 1
        return HttpResponse("ok")

    factory = RequestFactory()
    writing, reading = SessionMiddleware(write), SessionMiddleware(read)
    first = writing(factory.get("/"))
    header = f"connect.sid={first.cookies['connect.sid'].value}"
    return {
        "new visitor, session written": lambda: writing(factory.get("/")),
        "returning visitor, view reads": lambda: reading(factory.get("/", HTTP_COOKIE=header)),
        "returning visitor, view writes": lambda: writing(factory.get("/", HTTP_COOKIE=header)),
    }


def _instrumented() -> Callable[[], None]:
    """Switch the instrumentation on; give what switches it off."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    from django_express_session.otel import ExpressSessionInstrumentor

    class Dropped(SpanExporter):
        def export(self, spans: Sequence[object]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(Dropped()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    instrumentor = ExpressSessionInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)

    def off() -> None:
        instrumentor.uninstrument()
        tracer_provider.shutdown()
        meter_provider.shutdown()

    return off


def _per_request_us(request: Callable[[], object], count: int) -> float:
    # CPU time of the process (its span-export thread included), not wall time: on a
    # shared machine the wall clock also counts the time the process waited for a core.
    started = time.process_time()
    for _ in range(count):
        request()
    return (time.process_time() - started) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--tree", type=Path, default=ROOT)
    parser.add_argument("--modes", default="off,on", help="off, on or both (off,on)")
    args = parser.parse_args()
    _setup(args.tree)
    from django.test import override_settings

    import django_express_session
    from django_express_session import conf

    if Path(django_express_session.__file__).parent.parent != args.tree.resolve():
        sys.exit(f"the package was imported from {django_express_session.__file__}")

    with override_settings(EXPRESS_SESSION=EXPRESS):
        conf.reset()
        requests = _requests()
        can_observe = args.tree.resolve() == ROOT
        modes = args.modes.split(",") if can_observe else ["off"]
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.rounds):
            for mode in modes:
                switch_off = _instrumented() if mode == "on" else None
                try:
                    for label, request in requests.items():
                        us = _per_request_us(request, args.requests)
                        times.setdefault((label, mode), []).append(us)
                finally:
                    if switch_off is not None:
                        switch_off()
        conf.reset()
    import django_express_session

    package = Path(django_express_session.__file__).parent
    print(f"package {package}; best of {args.rounds} rounds x {args.requests} requests")
    print(f"| request | {' | '.join(f'otel {mode} (µs)' for mode in modes)} |")
    print(f"|---|{'---|' * len(modes)}")
    for label in requests:
        cells = [f"{min(times[label, mode]):.1f}" for mode in modes]
        print(f"| {label} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
