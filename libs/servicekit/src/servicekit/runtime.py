"""Lifespan building blocks shared by the services' composition roots."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from eventbus import Bus, Consumer, Subscription
from fastapi import FastAPI

from servicekit.settings import ServiceSettings


@asynccontextmanager
async def bus_for(app: FastAPI, settings: ServiceSettings, *, service: str) -> AsyncIterator[Bus]:
    """The service's bus handle, registered as the ``redis`` readiness check."""
    async with Bus.from_url(settings.redis_url, source=service, settings=settings.bus_settings()) as bus:
        app.state.ready_checks["redis"] = bus.ping
        yield bus


@asynccontextmanager
async def consuming(
    app: FastAPI,
    bus: Bus,
    settings: ServiceSettings,
    *,
    group: str,
    subscriptions: Sequence[Subscription],
    **options: Any,
) -> AsyncIterator[Consumer]:
    """Run the service's consumer group (one consumer per process, named by ``CONSUMER_NAME``) for the app's
    lifetime, registered as the ``consumer`` readiness check (and degraded check: events lost at a stream's
    ceiling, docs/retention.md). Leaving the block stops it gracefully.
    ``options`` go to :class:`~eventbus.Consumer` (``batch_size``, ``block``, ``visibility_timeout``, …)."""
    options.setdefault("block", timedelta(seconds=settings.consumer_block_seconds))
    consumer = Consumer(bus, group, subscriptions, name=settings.consumer_name, **options)
    async with consumer.running():
        app.state.ready_checks["consumer"] = consumer.alive
        app.state.degraded_checks["consumer"] = consumer.degraded
        yield consumer
