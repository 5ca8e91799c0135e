"""OpenTelemetry spans for publish and handle, linked through the envelope's W3C ``traceparent``.

Only the OpenTelemetry API is used here: without an SDK configured by the service, spans are no-ops and no
``traceparent`` is written, so the library costs nothing when tracing is off.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import NoOpTracerProvider, ProxyTracerProvider, Span, SpanKind, Status, StatusCode
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


#: The consumer spans of the batch being handled in this task, by event id (``handling_batch``).
_batch: ContextVar[dict[str, Span] | None] = ContextVar("eventbus_batch_spans", default=None)


@contextmanager
def publishing(event: Envelope[Any]) -> Iterator[Envelope[Any]]:
    """A producer span; yields the event with ``traceparent`` set when tracing is on. Inside a batch
    (``handling_batch``), an event caused by one of the batch's events is a child of that event's span."""
    if not enabled():
        yield event
        return
    spans = _batch.get()
    cause = spans.get(event.causation_id) if spans and event.causation_id else None
    with _tracer.start_as_current_span(
        f"publish {event.type}",
        context=trace.set_span_in_context(cause) if cause is not None else None,
        kind=SpanKind.PRODUCER,
        attributes=_attributes(event),
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
    with _tracer.start_as_current_span(
        f"handle {event.type}",
        context=_parent(event),
        kind=SpanKind.CONSUMER,
        attributes=_handled(event, group),
    ) as span:
        yield span


@contextmanager
def handling_batch(events: Sequence[Envelope[Any]], group: str) -> Iterator[dict[str, Span]]:
    """One consumer span per event of a batch handler's call, each a child of its own publisher's span. None of
    them is current (a batch has no single current event): what the handler publishes with one of the batch's
    events as its cause (``causation_id``) becomes a child of that event's span (``publishing``). The caller
    marks the failed ones (``failed``); all end when the block does."""
    if not enabled():
        yield {}
        return
    spans = {
        event.id: _tracer.start_span(
            f"handle {event.type}",
            context=_parent(event),
            kind=SpanKind.CONSUMER,
            attributes=_handled(event, group),
        )
        for event in events
    }
    token = _batch.set(spans)
    try:
        yield spans
    except BaseException as exc:  # cancelled (a shutdown past its grace period, a timeout): not a success
        for span in spans.values():
            failed(span, exc)
        raise
    finally:
        _batch.reset(token)
        for span in spans.values():
            span.end()


def failed(span: Span, exc: BaseException) -> None:
    """Mark a span as ended by ``exc``, as ``start_as_current_span`` does for an exception that escapes it."""
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))


def _parent(event: Envelope[Any]) -> Context | None:
    return _propagator.extract({"traceparent": event.traceparent}) if event.traceparent else None


def _handled(event: Envelope[Any], group: str) -> dict[str, str | int]:
    return {**_attributes(event), "messaging.consumer.group.name": group}
