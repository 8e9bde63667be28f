"""``django_express_session.otel``: spans and metrics, read with the OpenTelemetry SDK's
in-memory span exporter and metric reader."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import AsyncClient, Client

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import StatusCode

from django_express_session import conf, signals
from django_express_session.core import observe
from django_express_session.otel import ExpressSessionInstrumentor
from tests.conftest import STORE_VARIANTS
from tests.helpers import (
    cookie_header,
    express_session,
    merge,
    set_cookie,
    sid_of,
    stored_session,
)
from tests.servers.redis import redis_url, start_redis

pytestmark = pytest.mark.django_db


@pytest.fixture
def store_settings(store_memory):
    """The memory store, unless a test names another: what is observed is the same."""
    return store_memory


class Telemetry:
    """What the instrumentation exported: finished spans and the metrics' points."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def finished(self) -> list[tuple[str, dict[str, Any]]]:
        return [(span.name, dict(span.attributes)) for span in self.spans.get_finished_spans()]

    def points(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        """(attributes, value: a sum, or a histogram's count) of the metric ``name``."""
        data = self.reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        for point in metric.data.data_points:
                            value = getattr(point, "value", None)
                            found.append((dict(point.attributes), value or point.count))
        return found

    def total(self, name: str, **attributes: str) -> int:
        wanted = {f"express_session.{key}": value for key, value in attributes.items()}
        return sum(
            value
            for found, value in self.points(name)
            if all(found.get(key) == value for key, value in wanted.items())
        )


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    seen = Telemetry()
    instrumentor = ExpressSessionInstrumentor()
    instrumentor.instrument(
        tracer_provider=seen.tracer_provider, meter_provider=seen.meter_provider
    )
    yield seen
    instrumentor.uninstrument()


def test_off_until_instrumented_and_off_again_after(express, client):
    assert observe.current is None
    instrumentor = ExpressSessionInstrumentor()
    seen = Telemetry()
    instrumentor.instrument(
        tracer_provider=seen.tracer_provider, meter_provider=seen.meter_provider
    )
    assert observe.current is not None
    instrumentor.uninstrument()
    assert observe.current is None
    client.get("/set", {"v": "1"})
    assert seen.finished() == [] and seen.points("express_session.sessions.created") == []


def test_a_span_per_store_operation_with_the_store_and_outcome(express, client, telemetry):
    store = express()
    sid = sid_of(set_cookie(client.get("/set", {"v": "1"})))
    client.get("/read", HTTP_COOKIE=cookie_header(sid))
    client.get("/read", HTTP_COOKIE=cookie_header("not-stored"))
    operations = [
        (name, attributes["express_session.outcome"]) for name, attributes in telemetry.finished()
    ]
    assert ("express_session.create", "ok") in operations
    assert ("express_session.read", "hit") in operations
    assert ("express_session.read", "miss") in operations
    assert {attributes["express_session.store"] for _, attributes in telemetry.finished()} == {
        store.name
    }
    assert telemetry.total("express_session.store.duration", operation="create") == 1
    assert telemetry.total("express_session.sessions.created") == 1


@pytest.mark.parametrize("variant", STORE_VARIANTS)
def test_every_store_reports_its_primitives_not_its_backend_calls(
    request, settings, variant, telemetry
):
    settings.ROOT_URLCONF = "tests.urls"
    settings.EXPRESS_SESSION = express_session(store=request.getfixturevalue(f"store_{variant}"))
    client = Client()
    sid = sid_of(set_cookie(client.get("/set", {"v": "1"})))
    client.get("/set", {"v": "2"}, HTTP_COOKIE=cookie_header(sid))
    client.get("/destroy", HTTP_COOKIE=cookie_header(sid))
    names = [name.removeprefix("express_session.") for name, _ in telemetry.finished()]
    assert names == ["create", "read", "replace", "read", "destroy"]
    (store,) = {attributes["express_session.store"] for _, attributes in telemetry.finished()}
    assert store == conf.get_store().name


def test_sessions_ended_are_counted_by_reason(express, client, telemetry):
    express()
    sid = sid_of(set_cookie(client.get("/set", {"v": "1"})))
    client.get("/regenerate", HTTP_COOKIE=cookie_header(sid))
    client.get("/destroy")  # the client holds the regenerated session's cookie
    assert telemetry.total("express_session.sessions.ended", reason="regenerate") == 1
    assert telemetry.total("express_session.sessions.ended", reason="destroy") == 1
    assert telemetry.total("express_session.sessions.created") == 2


def test_a_lost_compare_and_set_is_a_retry(express, telemetry):
    from django_express_session.record import Changes

    store = express()
    store.create("s1", stored_session({"v": 1}))
    stale = store.read("s1")
    store.replace("s1", stored_session({"v": 2}), stale.version)  # another writer
    merge(store, "s1", Changes(stored_session({})["cookie"], {"w": 3}, ()), stale)
    assert telemetry.total("express_session.cas.retries") == 1
    outcomes = [attributes["express_session.outcome"] for _, attributes in telemetry.finished()]
    assert outcomes == ["conflict", "hit", "ok"]  # replace lost, re-read, replace won


def test_a_save_that_keeps_losing_is_a_conflict_and_a_503(express, telemetry):
    express(store={"backend": "tests.identity_support.HammeredStore", "options": {}})
    client = Client()
    client.get("/set", {"color": "blue"})
    assert client.get("/set", {"color": "red"}).status_code == 503
    assert telemetry.total("express_session.cas.conflicts") == 1
    assert telemetry.total("express_session.store.unavailable", cause="update_conflict") == 1
    assert telemetry.total("express_session.cas.retries") == 20


def test_touches_spared_by_touch_after(express, client, telemetry, session_clock):
    express(touchAfter=60, cookie={"maxAge": 3_600_000})
    sid = sid_of(set_cookie(client.get("/set", {"v": "1"})))
    for _ in range(3):
        client.get("/noop", HTTP_COOKIE=cookie_header(sid))
    assert telemetry.total("express_session.touches.spared") == 3
    session_clock.advance(61_000)
    client.get("/noop", HTTP_COOKIE=cookie_header(sid))
    assert telemetry.total("express_session.touches.spared") == 3  # this one touched


def test_without_touch_after_nothing_is_spared(express, client, telemetry):
    express(cookie={"maxAge": 3_600_000})
    sid = sid_of(set_cookie(client.get("/set", {"v": "1"})))
    client.get("/noop", HTTP_COOKIE=cookie_header(sid))
    assert telemetry.points("express_session.touches.spared") == []
    assert ("express_session.touch", "ok") in [
        (name, attributes["express_session.outcome"]) for name, attributes in telemetry.finished()
    ]


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_store_is_an_error_span_and_a_503(express, settings, tmp_path, telemetry):
    server = start_redis(tmp_path / "redis")
    settings.CACHES = {
        **settings.CACHES,
        "otel": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": redis_url(server)},
    }
    store = express(store={"backend": "redis", "options": {"alias": "otel"}})
    store.create("before-outage", stored_session({"v": 1}))
    server.stop()
    response = Client().get("/read", HTTP_COOKIE=cookie_header("before-outage"))
    assert response.status_code == 503
    failed, *_ = [
        span
        for span in telemetry.spans.get_finished_spans()
        if span.attributes["express_session.outcome"] == "unavailable"
    ]
    assert (
        failed.name == "express_session.read"
        and failed.attributes["express_session.store"] == "redis"
    )
    assert failed.status.status_code is StatusCode.ERROR and failed.events[0].name == "exception"
    assert telemetry.total("express_session.store.unavailable", cause="store_unavailable") == 1


@pytest.mark.django_db(transaction=True)
def test_native_asyncio_operations_are_traced_too(express, store_redis, telemetry):
    import asyncio

    store = express(store=store_redis)
    assert store.native_async

    async def visit() -> None:
        client = AsyncClient()
        sid = sid_of(set_cookie(await client.get("/async-set", {"v": "1"})))
        await client.get("/async-read", HTTP_COOKIE=cookie_header(sid))

    asyncio.run(visit())
    names = [name for name, attributes in telemetry.finished()]
    assert "express_session.create" in names and "express_session.read" in names
    assert telemetry.total("express_session.sessions.created") == 1


def test_signals_are_disconnected_on_uninstrument(telemetry):
    instrumentor = ExpressSessionInstrumentor()
    assert signals.session_created.has_listeners()
    instrumentor.uninstrument()
    assert not any(
        "django_express_session" in str(key) for key, *_ in signals.session_created.receivers
    )
    instrumentor.instrument(
        tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
    )
