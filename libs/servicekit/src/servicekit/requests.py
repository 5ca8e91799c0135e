"""Every HTTP request: an id (``X-Request-ID``), an access log line and RED metrics per route template.

The id is the caller's ``X-Request-ID`` when it is a short printable token (``eventbus.envelope.REQUEST_ID``:
it goes into headers, logs and events), otherwise a fresh ``req_<ULID>``. It is returned on the response,
bound to every log line written while the request is served, written into the events it publishes
(``Envelope.request_id``, so the consumers' log lines carry it too) and sent on upstream calls made through
:func:`http_client` (also while handling such an event).

Metrics are labelled by the route's template (``/v1/instances/{name}``), never the raw path: one series per
route, whatever ids the paths hold. A path no route matches is ``route="unmatched"``.
"""

from __future__ import annotations

import re
import time
from typing import Any, Final

import httpx
import structlog
from eventbus import ids
from eventbus.context import bind_request_id, current_request_id, unbind_request_id
from eventbus.envelope import REQUEST_ID
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit import telemetry
from servicekit.transport import MAX_CONNECTIONS, AiohttpTransport

HEADER: Final = "x-request-id"
_VALID = re.compile(REQUEST_ID)
#: Methods kept as their own label value; anything else is "OTHER" (a client picks the method: bounded labels).
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: Probed every few seconds: counted, but logged only when they fail.
_QUIET = frozenset({"/healthz", "/readyz", "/metrics"})

REQUESTS = Counter(
    "http_server_requests_total",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
)
DURATION = Histogram(
    "http_server_request_duration_seconds",
    "Time to answer an HTTP request (until the response started and its body was sent), by route template",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

log = structlog.get_logger("servicekit.requests")


def accepted_id(value: str | None) -> str:
    """The caller's id when it is acceptable, else a new one."""
    if value is not None and _VALID.match(value):
        return value
    return ids.new_id("req")


class RequestContext:
    """Pure ASGI (not ``BaseHTTPMiddleware``): streaming responses (SSE) pass through untouched, and the
    context variables it sets are seen by the app, which runs in the same task."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = _header(scope, HEADER.encode())
        request_id = accepted_id(sent)
        status = 500  # what the client sees if the app raises before answering (ServerErrorMiddleware)
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (HEADER.encode(), request_id.encode())]
            await send(message)

        token = bind_request_id(request_id)
        try:
            with structlog.contextvars.bound_contextvars(request_id=request_id):
                try:
                    await self.app(scope, receive, send_with_id)
                finally:
                    _record(
                        scope,
                        status,
                        time.perf_counter() - started,
                        replaced=sent is not None and sent != request_id,
                    )
        finally:
            unbind_request_id(token)


def _record(scope: Scope, status: int, seconds: float, *, replaced: bool) -> None:
    method = scope["method"] if scope["method"] in _METHODS else "OTHER"
    route = getattr(scope.get("route"), "path", None) or "unmatched"
    REQUESTS.labels(method, route, str(status)).inc()
    DURATION.labels(method, route).observe(seconds)
    if route in _QUIET and status < 400:
        return
    fields: dict[str, Any] = {
        "method": method,
        "route": route,
        "status": status,
        "duration_ms": round(seconds * 1000, 2),
    }
    if replaced:
        fields["request_id_refused"] = True  # the caller's id was not acceptable: this one is ours
    log.info("http_request", **fields)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def _send_request_id(request: httpx.Request) -> None:
    request_id = current_request_id()
    if request_id is not None and HEADER not in request.headers:
        request.headers[HEADER] = request_id


def http_client(**options: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` for upstream calls (``options`` as httpx takes them): it sends the current
    request id as ``X-Request-ID`` and, with tracing on, makes a client span per call carrying
    ``traceparent``. Without a ``transport`` (tests pass theirs) requests go out through aiohttp
    (:class:`servicekit.transport.AiohttpTransport`: the same httpx API and errors, a fraction of the CPU)."""
    hooks = options.pop("event_hooks", {})
    hooks = {**hooks, "request": [_send_request_id, *hooks.get("request", [])]}
    if options.get("transport") is None:
        limits: httpx.Limits | None = options.pop("limits", None)
        most = limits.max_connections if limits is not None and limits.max_connections else MAX_CONNECTIONS
        options["transport"] = AiohttpTransport(max_connections=most, verify=options.pop("verify", True))
    client = httpx.AsyncClient(event_hooks=hooks, **options)
    telemetry.instrument_client(client)
    return client
