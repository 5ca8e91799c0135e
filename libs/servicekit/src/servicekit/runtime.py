"""Lifespan building blocks shared by the services' composition roots."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from eventbus import Bus
from fastapi import FastAPI

from servicekit.settings import ServiceSettings


@asynccontextmanager
async def bus_for(app: FastAPI, settings: ServiceSettings, *, service: str) -> AsyncIterator[Bus]:
    """The service's bus handle, registered as the ``redis`` readiness check."""
    async with Bus.from_url(settings.redis_url, source=service, settings=settings.bus_settings()) as bus:
        app.state.ready_checks["redis"] = bus.ping
        yield bus
