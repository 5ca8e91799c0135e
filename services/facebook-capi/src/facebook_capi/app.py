"""Composition root: builds the bus handle, the Graph client, the batcher and the handlers; nothing runs at
import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from functools import partial

import httpx
import servicekit
from eventbus import Subscription
from fastapi import FastAPI
from redis.asyncio import BlockingConnectionPool, Redis
from servicekit.upstream import Breakers

from facebook_capi import SERVICE, api, handlers
from facebook_capi.batcher import Batcher
from facebook_capi.clients.graph import GraphClient
from facebook_capi.companies import CompanyConfigs, load_file
from facebook_capi.delivery import Destination, DryRunLog, Retrying, Sender
from facebook_capi.leads import LeadIndex
from facebook_capi.ledger import SentLedger
from facebook_capi.settings import Settings
from facebook_capi.stats import Stats


def create_app(settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from_file = load_file(settings.companies_file) if settings.companies_file else {}
        async with (
            AsyncExitStack() as stack,
            servicekit.bus_for(app, settings, service=SERVICE) as bus,
            httpx.AsyncClient(
                base_url=settings.graph_url, transport=transport, timeout=settings.request_timeout
            ) as http,
        ):
            # Our own pool, blocking when full: hundreds of handlers in flight must queue for a connection,
            # not fail (redis-py's default pool raises at 100) nor starve the consumer's own commands.
            redis = Redis(
                connection_pool=BlockingConnectionPool.from_url(
                    settings.redis_url, max_connections=settings.redis_max_connections, timeout=10
                )
            )
            stack.push_async_callback(redis.aclose)
            keys = bus.keys
            ledger = SentLedger(redis, keys)
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
                companies=CompanyConfigs(redis, keys, from_file=from_file),
                leads=LeadIndex(redis, keys, retention=timedelta(days=settings.lead_retention_days)),
                ledger=ledger,
                batcher=batcher,
                stats=Stats(redis, keys),
                default_country=settings.default_country,
                max_event_age_seconds=settings.max_event_age_seconds,
                dry_run=settings.dry_run,
            )
            app.state.ports, app.state.dry_run_log = ports, dry_run_log
            on_event = {
                "lead.created": partial(handlers.report_lead, ports=ports),
                "lead.qualified": partial(handlers.report_qualified_lead, ports=ports),
                "contract.signed": partial(handlers.report_purchase, ports=ports),
            }
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

    app = FastAPI(title=SERVICE, lifespan=lifespan)
    app.state.admin_token = settings.admin_token
    app.include_router(api.router)
    servicekit.install(app, service=SERVICE, max_body_bytes=settings.max_body_bytes)
    return app
