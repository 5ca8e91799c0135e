"""OpenTelemetry spans for publish and handle, linked through the envelope's W3C ``traceparent``.

Only the OpenTelemetry API is used here: without an SDK configured by the service, spans are no-ops and no
``traceparent`` is written, so the library costs nothing when tracing is off.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import NoOpTracerProvider, ProxyTracerProvider, Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from eventbus.envelope import Envelope

_tracer = trace.get_tracer("eventbus")
_propagator = TraceContextTextMapPropagator()


def _attributes(event: Envelope[Any]) -> dict[str, str | int]:
    return {
        "messaging.system": "redis",
        "messaging.destination.name": event.type,
        "messaging.message.id": event.id,
        "event.version": event.version,
        "company_id": event.company_id,
        "correlation_id": event.correlation_id,
    }


@contextmanager
def publishing(event: Envelope[Any]) -> Iterator[Envelope[Any]]:
    """A producer span; yields the event with ``traceparent`` set when tracing is on."""
    if not enabled():
        yield event
        return
    with _tracer.start_as_current_span(
        f"publish {event.type}", kind=SpanKind.PRODUCER, attributes=_attributes(event)
    ):
        carrier: dict[str, str] = {}
        _propagator.inject(carrier)
        traceparent = carrier.get("traceparent")
        yield event.model_copy(update={"traceparent": traceparent}) if traceparent else event


_checked_at = -1.0
_on = False


def refresh() -> None:
    """Ask again at the next event whether an SDK records spans. ``enabled`` asks at most once a second: a
    process that installs its tracer provider after it has already published (a test's fixture, a late
    ``set_tracer_provider``) calls this so that the very next event is traced."""
    global _checked_at
    _checked_at = -1.0


def enabled() -> bool:
    """Is an SDK recording spans? Without one the API hands out a proxy provider, and building spans nobody
    records costs ~20 µs per event. Asked at most once a second: ``get_tracer_provider`` reads the
    environment on every call, and a service installs its SDK at start-up, not per event."""
    global _checked_at, _on
    now = time.monotonic()
    if now - _checked_at > 1.0:
        _on = not isinstance(trace.get_tracer_provider(), ProxyTracerProvider | NoOpTracerProvider)
        _checked_at = now
    return _on


@contextmanager
def handling(event: Envelope[Any], group: str) -> Iterator[Span | None]:
    """A consumer span, child of the publisher's span carried in ``traceparent``."""
    if not enabled():
        yield None
        return
    parent = _propagator.extract({"traceparent": event.traceparent}) if event.traceparent else None
    attributes = {**_attributes(event), "messaging.consumer.group.name": group}
    with _tracer.start_as_current_span(
        f"handle {event.type}", context=parent, kind=SpanKind.CONSUMER, attributes=attributes
    ) as span:
        yield span
