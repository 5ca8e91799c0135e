"""Run a service app under uvicorn: the only place that touches the process (signals, exit)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import uvicorn
from fastapi import FastAPI

from servicekit import heap, profiling, telemetry
from servicekit.logging import configure_logging
from servicekit.secrets import refuse_unsafe
from servicekit.settings import ServiceSettings

#: How long uvicorn lets open requests finish after SIGTERM before the lifespan exit (where the consumers get
#: their own grace); a container's stop grace must exceed both (docker-compose.yml's ``stop_grace_period``).
SHUTDOWN_SECONDS = 15


S = TypeVar("S", bound=ServiceSettings)


def run(make_app: Callable[[S], FastAPI], settings: S, *, service: str) -> None:
    """``serve(make_app(settings))``, with the production check first: building an app may already need a
    secret (a key to open stored secrets), and a missing one must read as the one line naming it, not a
    traceback."""
    refuse_unsafe(settings, service=service)
    serve(make_app(settings), settings, service=service)


def serve(app: FastAPI, settings: ServiceSettings, *, service: str) -> None:
    """uvicorn handles SIGINT/SIGTERM: it stops accepting, finishes requests, then runs the app's lifespan
    exit, where consumers stop reading and finish or release in-flight events (graceful shutdown). The garbage
    collector is tuned first (``servicekit.heap``). In production, settings with a missing or published secret
    stop the process here, before anything listens (``servicekit.secrets``). Tracing starts here when the
    ``OTEL_*`` variables ask for it (``servicekit.telemetry``)."""
    refuse_unsafe(settings, service=service)
    configure_logging(service, level=settings.log_level, json=settings.log_json)
    telemetry.start(service)
    heap.settle()  # the app is built and every module imported: what exists now lives as long as we do
    with profiling.profiled(service, settings.profile_dir):
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=SHUTDOWN_SECONDS,
        )
