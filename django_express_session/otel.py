"""OpenTelemetry traces and metrics of the session layer (extra ``otel``).

Switched on as OpenTelemetry instrumentations are, and off until then::

    from django_express_session.otel import ExpressSessionInstrumentor

    ExpressSessionInstrumentor().instrument()  # tracer_provider=, meter_provider= optional

(``opentelemetry-instrument`` finds it through the ``opentelemetry_instrumentor`` entry
point.) ``uninstrument()`` switches it off again.

Traces: a span per store operation (``express_session.read``, ``.create``,
``.replace``, ``.destroy``, ``.touch``, and the bulk and store-specific ones), with the
store kind, the operation and its outcome (``core.observe.outcome``); one that failed
(unreachable, corrupt record, error) has an error status and the exception.

Metrics (``core.observe`` for the store operations and spared touches, the package's
signals for the rest):

* ``express_session.store.duration`` (s): each store operation, by store, operation
  and outcome;
* ``express_session.store.unavailable``: requests that met an unreachable store or
  gave up a compare-and-set, by ``express_session.cause`` (``store_unavailable``,
  ``update_conflict``): each is a 503, except an unreachable store at the start of a
  request under ``storeUnavailable: "continue"`` (the request goes on without one);
* ``express_session.cas.retries``: compare-and-set writes lost to a concurrent writer
  (each one is retried); ``express_session.cas.conflicts``: saves that gave up;
* ``express_session.sessions.created``, ``express_session.sessions.ended`` (by
  ``express_session.reason``: the ``session_ended`` signal's reasons);
* ``express_session.touches.spared``: requests whose store touch ``touchAfter`` spared.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.trace import SpanKind, Status, StatusCode

from . import signals
from .core import observe
from .core.observe import operation_name, outcome
from .core.ops import Op, Performer

SCOPE = "django_express_session"
#: Outcomes that are failures of the store (a span error), not answers.
FAILED = frozenset({"unavailable", "corrupt", "error"})
#: Store operations take from tens of microseconds (memory) to the 0.5 s client bounds.
DURATION_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
)  # fmt: skip

#: The counters: (name, unit, description).
COUNTERS = (
    (
        "express_session.store.unavailable",
        "{request}",
        "Requests that met an unreachable session store or gave up a compare-and-set "
        "(a 503 unless storeUnavailable is 'continue')",
    ),
    (
        "express_session.cas.retries",
        "{write}",
        "Compare-and-set writes lost to a concurrent writer, then retried",
    ),
    ("express_session.cas.conflicts", "{save}", "Saves that gave up on compare-and-set"),
    ("express_session.sessions.created", "{session}", "Sessions stored"),
    ("express_session.sessions.ended", "{session}", "Stored sessions ended, by reason"),
    ("express_session.touches.spared", "{touch}", "Store touches touchAfter spared"),
)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("django-express-session")
    except PackageNotFoundError:
        return "0"


class _Telemetry:
    """The observer ``core.observe`` calls, and the receivers of the signals."""

    def __init__(self, tracer: trace.Tracer, meter: metrics.Meter) -> None:
        self.tracer = tracer
        self.duration = meter.create_histogram(
            "express_session.store.duration",
            unit="s",
            description="Duration of a session store operation",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        counters = {name: meter.create_counter(name, unit, text) for name, unit, text in COUNTERS}
        self.unavailable = counters["express_session.store.unavailable"]
        self.retries = counters["express_session.cas.retries"]
        self.conflicts = counters["express_session.cas.conflicts"]
        self.created = counters["express_session.sessions.created"]
        self.ended = counters["express_session.sessions.ended"]
        self.spared = counters["express_session.touches.spared"]

    # -- core.observe.Observer ------------------------------------------------------------

    def perform(self, performer: Performer, op: Op) -> Any:
        with _Observation(self, performer, op) as seen:
            seen.result = performer.perform(op)
        return seen.result

    async def aperform(self, performer: Performer, op: Op) -> Any:
        with _Observation(self, performer, op) as seen:
            seen.result = await performer.aperform(op)
        return seen.result

    def touch_spared(self) -> None:
        self.spared.add(1)

    # -- signals --------------------------------------------------------------------------

    def session_created(self, sender: Any, **kwargs: Any) -> None:
        self.created.add(1)

    def session_ended(self, sender: Any, reason: str, **kwargs: Any) -> None:
        self.ended.add(1, {"express_session.reason": reason})

    def store_unavailable(self, sender: Any, **kwargs: Any) -> None:
        self.unavailable.add(1, {"express_session.cause": "store_unavailable"})

    def update_conflict(self, sender: Any, **kwargs: Any) -> None:
        self.unavailable.add(1, {"express_session.cause": "update_conflict"})
        self.conflicts.add(1)

    def receivers(self) -> list[tuple[Any, Any]]:
        return [
            (signals.session_created, self.session_created),
            (signals.session_ended, self.session_ended),
            (signals.store_unavailable, self.store_unavailable),
            (signals.update_conflict, self.update_conflict),
        ]


class _Observation:
    """One store operation in its span, timed; ``result`` set by the caller."""

    __slots__ = ("name", "op", "performer", "result", "span", "span_scope", "started", "telemetry")

    def __init__(self, telemetry: _Telemetry, performer: Performer, op: Op) -> None:
        self.telemetry, self.performer, self.op = telemetry, performer, op
        self.name = operation_name(op)
        self.result: Any = None
        self.span_scope = telemetry.tracer.start_as_current_span(
            f"express_session.{self.name}",
            kind=SpanKind.INTERNAL,
            attributes={"express_session.store": performer.name},
            record_exception=False,
            set_status_on_exception=False,
        )

    def __enter__(self) -> _Observation:
        self.span = self.span_scope.__enter__()
        self.started = time.perf_counter()
        return self

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> Any:
        seconds = time.perf_counter() - self.started
        failure = error if isinstance(error, Exception) else None
        performer, name = self.performer, self.name
        ended = outcome(self.op, self.result, failure, performer=performer)
        telemetry = self.telemetry
        telemetry.duration.record(
            seconds,
            {
                "express_session.store": performer.name,
                "express_session.operation": name,
                "express_session.outcome": ended,
            },
        )
        if ended == "conflict":
            telemetry.retries.add(1, {"express_session.store": performer.name})
        span = self.span
        if span.is_recording():
            span.set_attribute("express_session.operation", name)
            span.set_attribute("express_session.outcome", ended)
            if ended in FAILED and failure is not None:
                span.record_exception(failure)
                span.set_status(Status(StatusCode.ERROR, f"{type(failure).__name__}: {failure}"))
        return self.span_scope.__exit__(kind, error, traceback)


class ExpressSessionInstrumentor(BaseInstrumentor):
    """Traces and metrics of django-express-session (``instrument()``/``uninstrument()``;
    one instance per process, as every ``BaseInstrumentor``)."""

    _telemetry: _Telemetry | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("django-express-session",)

    def _instrument(self, **kwargs: Any) -> None:
        tracer = trace.get_tracer(SCOPE, _version(), tracer_provider=kwargs.get("tracer_provider"))
        meter = metrics.get_meter(SCOPE, _version(), meter_provider=kwargs.get("meter_provider"))
        telemetry = self._telemetry = _Telemetry(tracer, meter)
        for signal, receiver in telemetry.receivers():
            signal.connect(receiver, weak=False, dispatch_uid=(SCOPE, receiver.__name__))
        observe.install(telemetry)

    def _uninstrument(self, **kwargs: Any) -> None:
        observe.install(None)
        if self._telemetry is not None:
            for signal, receiver in self._telemetry.receivers():
                signal.disconnect(dispatch_uid=(SCOPE, receiver.__name__))
            self._telemetry = None
