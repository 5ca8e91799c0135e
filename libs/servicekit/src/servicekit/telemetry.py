"""OpenTelemetry tracing, started from the standard ``OTEL_*`` variables and only when they ask for it.

:func:`start` installs an SDK tracer provider when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) or ``OTEL_TRACES_EXPORTER`` is set and ``OTEL_SDK_DISABLED`` is not
``true``. Everything else is the SDK's own reading of the environment: ``OTEL_SERVICE_NAME`` and
``OTEL_RESOURCE_ATTRIBUTES`` (the service's name is the default), ``OTEL_TRACES_SAMPLER[_ARG]``,
``OTEL_BSP_*``, ``OTEL_EXPORTER_OTLP_*`` (endpoint, headers, protocol: ``grpc``, the Python SDK's default,
or ``http/protobuf``). Exporters are found by name in the ``opentelemetry_traces_exporter`` entry points, as
``opentelemetry-instrument`` finds them (``otlp``, ``otlp_proto_http``, ``console``, ``none``).

Then FastAPI (server spans; not ``/healthz``, ``/readyz``, ``/metrics``), httpx (client spans on the clients
from ``servicekit.requests.http_client``, which also carry ``traceparent`` upstream) and redis-py (a span
per command, only inside a trace) are instrumented; the bus adds its publish and handle spans, linked
through the envelope (``eventbus.tracing``). Unset, nothing is imported beyond this module's own imports,
no middleware is added and no client is wrapped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib.metadata import entry_points
from typing import Any

from eventbus import tracing
from fastapi import FastAPI
from opentelemetry import trace

#: What the OpenTelemetry FastAPI instrumentation leaves out: probes and scrapes are not traffic.
EXCLUDED_URLS = "/healthz,/readyz,/metrics"


def requested(environ: Mapping[str, str] = os.environ) -> bool:
    """Do the standard variables ask for traces?"""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporters == "none":
        return False
    return bool(
        exporters
        or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def active() -> bool:
    """Is an SDK recording spans in this process (started here, or by a test or ``opentelemetry-instrument``)?"""
    tracing.refresh()
    return tracing.enabled()


def start(service: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Install the SDK when :func:`requested`; True when tracing is on afterwards."""
    if not requested(environ):
        return active()
    # Imported here: a service without the variables never loads the SDK, its exporters or gRPC.
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # Resource.create reads OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME; without a name from them it says
    # "unknown_service:python", which our service's name replaces.
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service}))
    provider = TracerProvider(resource=resource)
    for exporter in _exporters(environ):
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    RedisInstrumentor().instrument(tracer_provider=InsideTraces(provider))
    return active()


def _exporters(environ: Mapping[str, str]) -> Iterator[Any]:
    names = environ.get("OTEL_TRACES_EXPORTER", "").strip() or "otlp"
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "grpc"
    ).strip()
    for name in (n.strip() for n in names.split(",")):
        if name == "otlp":
            # The SDK's own mapping (opentelemetry.sdk._configuration): the protocol picks the exporter.
            name = {"grpc": "otlp_proto_grpc", "http/protobuf": "otlp_proto_http"}.get(protocol, "")
            if not name:
                raise ValueError(f"unsupported OTLP protocol {protocol!r}: grpc or http/protobuf")
        found = entry_points(group="opentelemetry_traces_exporter", name=name)
        if not found:
            raise ValueError(f"no OpenTelemetry trace exporter named {name!r} is installed")
        yield next(iter(found)).load()()


def instrument_app(app: FastAPI) -> None:
    """Server spans for ``app``'s requests, when tracing is on or asked for (the SDK starts after the app is
    built: ``servicekit.serve``)."""
    if not (requested() or active()):
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    # exclude_spans: no span per ASGI message sent or received (three or more per request, saying nothing).
    FastAPIInstrumentor.instrument_app(app, excluded_urls=EXCLUDED_URLS, exclude_spans=["receive", "send"])


def instrument_client(client: Any) -> None:
    """Client spans and ``traceparent`` on ``client``'s requests (its transport, whatever it is), when on."""
    if not (requested() or active()):
        return
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor.instrument_client(client)


class InsideTraces(trace.TracerProvider):
    """Spans only as children of a span: redis-py's are wanted inside a request or a handled event, not for
    each consumer's idle read every few seconds or the lag gauges' reads, which would each be a trace."""

    def __init__(self, provider: trace.TracerProvider) -> None:
        self._provider = provider

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return _ChildrenOnly(self._provider.get_tracer(*args, **kwargs))


class _ChildrenOnly(trace.Tracer):
    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    def start_span(self, name: str, context: Any = None, *args: Any, **kwargs: Any) -> trace.Span:
        if not trace.get_current_span(context).get_span_context().is_valid:
            return trace.INVALID_SPAN
        return self._tracer.start_span(name, context, *args, **kwargs)

    # The API declares it with its private _agnosticcontextmanager; a plain one behaves the same here.
    @contextmanager
    def start_as_current_span(  # type: ignore[override]
        self, name: str, context: Any = None, *args: Any, **kwargs: Any
    ) -> Iterator[trace.Span]:
        if not trace.get_current_span(context).get_span_context().is_valid:
            yield trace.INVALID_SPAN
            return
        with self._tracer.start_as_current_span(name, context, *args, **kwargs) as span:
            yield span
