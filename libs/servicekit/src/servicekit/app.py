"""``install``: what every service app gets — health, readiness, metrics, error mapping, a body limit, request ids
with access logs and RED metrics, and server spans when tracing is on."""

from __future__ import annotations

from fastapi import FastAPI

from servicekit import health, telemetry
from servicekit.errors import install_error_handlers
from servicekit.limits import BodyLimit
from servicekit.requests import RequestContext


def install(app: FastAPI, *, service: str, max_body_bytes: int = 256 * 1024) -> None:
    """Readiness checks are read from ``app.state.ready_checks`` (a name → async check dict) at request time."""
    if not hasattr(app.state, "ready_checks"):
        app.state.ready_checks = {}
    app.include_router(health.router(service, lambda: app.state.ready_checks))
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    # Added last, so outermost of ours: a refused body (413) is counted and logged with its request id too.
    app.add_middleware(RequestContext)
    telemetry.instrument_app(app)
