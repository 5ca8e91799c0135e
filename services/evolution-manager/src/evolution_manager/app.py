"""Composition root: builds the bus handle, the registry, the Evolution client and the consumer, and wires
routes and handlers; nothing runs at import."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial

import httpx
import servicekit
import structlog
from eventbus import Backoff, BusUnavailable, Subscription
from fastapi import FastAPI
from servicekit import outcome_routes
from servicekit.outcomes import Desk
from servicekit.secretbox import SecretBox
from servicekit.upstream import Breakers

from evolution_manager import SERVICE, api, handlers, instance_admin, statuses, webhooks
from evolution_manager.clients.evolution import EvolutionClient
from evolution_manager.deliveries import EFFECT, deliveries
from evolution_manager.echoes import SentIds
from evolution_manager.keys import ServiceKeys
from evolution_manager.ratelimits import InstanceRateLimits
from evolution_manager.registry import InstanceFileEntry, Registry, read_instances_file
from evolution_manager.settings import Settings

log = structlog.get_logger("evolution_manager")


async def _until_done(step: Callable[[], Awaitable[object]], what: str) -> None:
    """Start-up work that needs Redis: retried with backoff until it works (or the app stops)."""
    delay = 0.5
    while True:
        try:
            await step()
            return
        except BusUnavailable as exc:
            log.warning("startup_step_deferred", step=what, error=str(exc), retry_in=round(delay, 2))
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, 30.0)


async def _start_up(ports: api.Ports, seeds: list[InstanceFileEntry]) -> None:
    async def load() -> None:
        for seed in seeds:
            await ports.registry.put(seed.name, seed, operator=True)  # the platform's own file
        log.info("instances_file_loaded", instances=len(seeds))

    if seeds:
        await _until_done(load, "instances_file")
    if ports.settings.refresh_on_start:

        async def refresh() -> None:
            done = await statuses.refresh_all(
                bus=ports.bus,
                registry=ports.registry,
                evolution=ports.evolution,
                default_api_key=ports.settings.api_key,
            )
            log.info("instances_refreshed", instances=done)

        await _until_done(refresh, "refresh")


def create_app(settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    # Read (and validate) the file now: a broken config should stop the start, not be found later.
    seeds = read_instances_file(settings.instances_file) if settings.instances_file else []
    box = SecretBox.from_setting(
        settings.secrets_keys
    )  # instance secrets are stored sealed: no key, no start

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with (
            servicekit.bus_for(app, settings, service=SERVICE) as bus,
            servicekit.http_client(
                base_url=str(settings.api_url),
                transport=transport,
                timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout),
            ) as http,
        ):
            registry = Registry(bus.redis, bus.keys, box=box, cache_seconds=settings.instance_cache_seconds)
            evolution = EvolutionClient(http)
            sent_ids = SentIds(bus.redis, bus.keys, ttl=settings.echo_ttl)
            breakers = Breakers(
                failure_threshold=settings.breaker_failures,
                recovery_timeout=settings.breaker_recovery_seconds,
            )
            ports = api.Ports(
                bus=bus,
                registry=registry,
                evolution=evolution,
                settings=settings,
                rules=webhooks.SkipRules(
                    from_me=settings.skip_from_me,
                    groups=settings.skip_groups,
                    broadcast=settings.skip_broadcast,
                ),
                limits=InstanceRateLimits(
                    per_second=settings.webhook_rate_per_second, burst=settings.webhook_burst
                ),
                sent_ids=sent_ids,
                breakers=breakers,
            )
            records = deliveries(bus.redis, bus.keys, ttl=settings.reply_record_ttl)
            app.state.outcomes = Desk(
                bus, SERVICE, ServiceKeys(bus.keys).unknown_outcomes(), {EFFECT: records}
            )
            # What every reaction in handlers.REACTIONS takes by name (today one: the replies).
            collaborators = {
                "registry": registry,
                "deliveries": records,
                "sent_ids": sent_ids,
                "evolution": evolution,
                "breakers": breakers,
                "default_api_key": settings.api_key,
                "policy": handlers.SendPolicy(
                    settings.send_attempts,
                    settings.send_backoff_initial,
                    settings.send_backoff_max,
                    in_flight_ms=int(settings.reply_in_flight_seconds * 1000),
                ),
            }
            subscriptions = [
                Subscription(
                    channel,
                    partial(react, **collaborators),
                    max_attempts=settings.reply_max_attempts,
                    backoff=Backoff(
                        initial=settings.reply_backoff_initial, maximum=settings.reply_backoff_max
                    ),
                    ordering_key=handlers.ORDERING.get(channel, ()),
                )
                for channel, react in handlers.REACTIONS.items()
            ]
            app.state.ports = ports
            async with servicekit.consuming(
                app,
                bus,
                settings,
                group=SERVICE,
                subscriptions=subscriptions,
            ):
                start_up = asyncio.create_task(_start_up(ports, seeds), name="evolution-manager:start-up")
                try:
                    yield
                finally:
                    start_up.cancel()
                    await asyncio.gather(start_up, return_exceptions=True)

    app = FastAPI(title=SERVICE, lifespan=lifespan, **servicekit.docs_options(settings))
    app.include_router(api.router)
    app.include_router(instance_admin.router)
    app.include_router(outcome_routes.router(api.require_admin))
    servicekit.install(app, service=SERVICE, max_body_bytes=settings.max_body_bytes, settings=settings)
    return app
