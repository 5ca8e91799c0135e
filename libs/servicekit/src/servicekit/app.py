"""``install``: what every service app gets — health, readiness, metrics, error mapping, a body limit, request ids
with access logs and RED metrics, and server spans when tracing is on."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from servicekit import health, telemetry
from servicekit.errors import install_error_handlers
from servicekit.limits import BodyLimit
from servicekit.requests import RequestContext
from servicekit.settings import ServiceSettings


def docs_options(settings: ServiceSettings) -> dict[str, Any]:
    """``FastAPI(**docs_options(settings))``: ``/docs``, ``/redoc`` and ``/openapi.json`` only where
    ``settings.docs_enabled`` (development, or ``<PREFIX>_DOCS=true``). A public port need not publish the
    internal APIs' shape; ``app.openapi()`` still builds the document for the committed contracts."""
    if settings.docs_enabled:
        return {}
    return {"docs_url": None, "redoc_url": None, "openapi_url": None}


def install(
    app: FastAPI,
    *,
    service: str,
    max_body_bytes: int = 256 * 1024,
    settings: ServiceSettings | None = None,
) -> None:
    """Readiness checks are read from ``app.state.ready_checks`` (a name → async check dict) at request time, and
    what makes a ready service degraded from ``app.state.degraded_checks`` (name → async reason or None).
    ``settings`` decide who may read ``/metrics`` (``servicekit.health``); without them it is open."""
    if not hasattr(app.state, "ready_checks"):
        app.state.ready_checks = {}
    if not hasattr(app.state, "degraded_checks"):
        app.state.degraded_checks = {}
    metrics = settings is None or settings.development
    token = settings.metrics_token if settings is not None else None
    app.include_router(
        health.router(
            service,
            lambda: app.state.ready_checks,
            lambda: app.state.degraded_checks,
            open_metrics=metrics,
            metrics_token=token,
        )
    )
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    # Added last, so outermost of ours: a refused body (413) is counted and logged with its request id too.
    app.add_middleware(RequestContext)
    telemetry.instrument_app(app)
