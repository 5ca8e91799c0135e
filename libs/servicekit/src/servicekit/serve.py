"""Run a service app under uvicorn: the only place that touches the process (signals, exit)."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from servicekit import heap
from servicekit.logging import configure_logging
from servicekit.secrets import refuse_unsafe
from servicekit.settings import ServiceSettings

#: How long uvicorn lets open requests finish after SIGTERM before the lifespan exit (where the consumers get
#: their own grace); a container's stop grace must exceed both (docker-compose.yml's ``stop_grace_period``).
SHUTDOWN_SECONDS = 15


def serve(app: FastAPI, settings: ServiceSettings, *, service: str) -> None:
    """uvicorn handles SIGINT/SIGTERM: it stops accepting, finishes requests, then runs the app's lifespan
    exit, where consumers stop reading and finish or release in-flight events (graceful shutdown). The garbage
    collector is tuned first (``servicekit.heap``). In production, settings with a missing or published secret
    stop the process here, before anything listens (``servicekit.secrets``)."""
    refuse_unsafe(settings, service=service)
    configure_logging(service, level=settings.log_level, json=settings.log_json)
    heap.settle()  # the app is built and every module imported: what exists now lives as long as we do
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=SHUTDOWN_SECONDS,
    )
