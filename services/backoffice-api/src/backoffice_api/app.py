"""Composition root: builds the bus handle and wires routes; nothing runs at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import servicekit
from fastapi import FastAPI

from backoffice_api import SERVICE
from backoffice_api.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with servicekit.bus_for(app, settings, service=SERVICE) as bus:
            app.state.bus = bus
            yield

    app = FastAPI(title=SERVICE, lifespan=lifespan)
    servicekit.install(app, service=SERVICE, max_body_bytes=settings.max_body_bytes)
    return app
