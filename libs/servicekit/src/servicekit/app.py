"""``install``: what every service app gets — health, readiness, metrics, error mapping and a body limit."""

from __future__ import annotations

from fastapi import FastAPI

from servicekit import health
from servicekit.errors import install_error_handlers
from servicekit.limits import BodyLimit


def install(app: FastAPI, *, service: str, max_body_bytes: int = 256 * 1024) -> None:
    """Readiness checks are read from ``app.state.ready_checks`` (a name → async check dict) at request time, and
    what makes a ready service degraded from ``app.state.degraded_checks`` (name → async reason or None)."""
    if not hasattr(app.state, "ready_checks"):
        app.state.ready_checks = {}
    if not hasattr(app.state, "degraded_checks"):
        app.state.degraded_checks = {}
    app.include_router(
        health.router(service, lambda: app.state.ready_checks, lambda: app.state.degraded_checks)
    )
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
