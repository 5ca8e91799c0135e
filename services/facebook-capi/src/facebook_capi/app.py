"""Composition root: builds the bus handle, the Graph client, the batcher and the handlers; nothing runs at
import."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from functools import partial

import eventbus
import httpx
import servicekit
from eventbus import Subscription, is_cluster_url
from fastapi import FastAPI
from servicekit import outcome_routes
from servicekit.outcomes import Desk
from servicekit.secretbox import SecretBox
from servicekit.upstream import Breakers

from facebook_capi import SERVICE, api, handlers, settings_api
from facebook_capi.batcher import Batcher
from facebook_capi.clients.graph import GraphClient
from facebook_capi.companies import CompanyConfigs, load_file
from facebook_capi.delivery import Destination, DryRunLog, Retrying, Sender
from facebook_capi.keys import ServiceKeys
from facebook_capi.leads import LeadIndex
from facebook_capi.ledger import EFFECT, SentLedger
from facebook_capi.reporting import ConversionReports
from facebook_capi.settings import Settings
from facebook_capi.stats import Stats

#: One subscription each, ``Settings.concurrency`` handlers in flight per channel.
REACTIONS: dict[str, Callable[..., Awaitable[None]]] = {
    "lead.created": handlers.report_lead,
    "lead.qualified": handlers.report_qualified_lead,
    "contract.signed": handlers.report_purchase,
}


def create_app(settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    box = SecretBox.from_setting(settings.secrets_keys)  # access tokens are stored sealed: no key, no start

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from_file = load_file(settings.companies_file) if settings.companies_file else {}
        async with (
            AsyncExitStack() as stack,
            servicekit.bus_for(app, settings, service=SERVICE) as bus,
            servicekit.http_client(
                base_url=settings.graph_url, transport=transport, timeout=settings.request_timeout
            ) as http,
        ):
            # Our own client, so that hundreds of handlers in flight cannot starve the consumer's commands.
            # On one server its pool blocks when full: handlers queue for a connection rather than fail. A
            # cluster client's pools (one per node) raise MaxConnectionsError when full instead of waiting,
            # so there each must fit every handler in flight (one command at a time each) besides the
            # batcher's writes; connections open only as they are needed.
            max_connections = settings.redis_max_connections
            if is_cluster_url(settings.redis_url):
                max_connections += len(REACTIONS) * settings.concurrency
            redis = eventbus.connect(settings.redis_url, max_connections=max_connections)
            stack.push_async_callback(redis.aclose)
            await eventbus.warm(redis)  # before three channels and their handlers start at once
            keys = bus.keys
            ledger = SentLedger(redis, keys)
            app.state.outcomes = Desk(
                bus, SERVICE, ServiceKeys(keys).unknown_outcomes(), {EFFECT: ledger.records}
            )
            dry_run_log = DryRunLog(redis, keys)
            sender = Sender(
                GraphClient(http, api_version=settings.api_version),
                ledger,
                breakers=Breakers(
                    failure_threshold=settings.breaker_failures,
                    recovery_timeout=settings.breaker_recovery_seconds,
                ),
                retrying=Retrying(
                    settings.retry_attempts, settings.retry_initial_delay, settings.retry_max_delay
                ),
                api_version=settings.api_version,
                dry_run=dry_run_log if settings.dry_run else None,
            )
            batcher: Batcher[Destination] = Batcher(
                sender.deliver, max_events=settings.batch_max_events, max_delay=settings.batch_max_delay
            )
            ports = handlers.Ports(
                companies=CompanyConfigs(redis, keys, box=box, from_file=from_file),
                leads=LeadIndex(redis, keys, retention=timedelta(days=settings.lead_retention_days)),
                ledger=ledger,
                batcher=batcher,
                stats=Stats(redis, keys),
                reports=ConversionReports(bus),
                default_country=settings.default_country,
                max_event_age_seconds=settings.max_event_age_seconds,
                lead_wait_seconds=settings.lead_wait_seconds,
                dry_run=settings.dry_run,
                dry_run_log=dry_run_log,
            )
            app.state.ports = ports
            on_event = {channel: partial(react, ports=ports) for channel, react in REACTIONS.items()}
            subscriptions = [
                Subscription(channel, handler, concurrency=settings.concurrency)
                for channel, handler in on_event.items()
            ]
            consuming = servicekit.consuming(
                app,
                bus,
                settings,
                group=SERVICE,
                subscriptions=subscriptions,
            )
            # Leaving: the consumer stops first (its handlers wait on their batches), then the batcher flushes.
            async with batcher.running(), consuming:
                yield

    app = FastAPI(title=SERVICE, lifespan=lifespan, **servicekit.docs_options(settings))
    app.state.admin_token = settings.admin_token
    app.state.backoffice_token = settings.backoffice_token
    app.include_router(api.router)
    app.include_router(settings_api.router)
    app.include_router(outcome_routes.router(api.require_outcomes_caller))
    servicekit.install(app, service=SERVICE, max_body_bytes=settings.max_body_bytes, settings=settings)
    return app
