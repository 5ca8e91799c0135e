"""Composition root: builds the clients, read models and consumer, and wires routes; nothing runs at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta

import eventbus
import httpx
import servicekit
import structlog
from eventbus import Subscription
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from servicekit import error_body
from starlette.exceptions import HTTPException as StarletteHTTPException

from backoffice_api import SERVICE, handlers
from backoffice_api.access import Access
from backoffice_api.apikeys import ApiKeys
from backoffice_api.clients.agent import AgentAdminClient
from backoffice_api.clients.autentique import AutentiqueClient
from backoffice_api.clients.capi import CapiSettingsClient
from backoffice_api.clients.evolution import EvolutionAdminClient
from backoffice_api.clients.outcomes import OutcomeOwners, Owner
from backoffice_api.console import console_app
from backoffice_api.counters import Reports
from backoffice_api.deals import Deals
from backoffice_api.deps import InvalidParameter, Ports
from backoffice_api.keyspace import Keyspace
from backoffice_api.live import LiveHub
from backoffice_api.ratelimit import RateLimiter
from backoffice_api.routes import (
    admin,
    admin_capi,
    admin_keys,
    agent_settings,
    contract_actions,
    contracts,
    conversions,
    deals,
    events,
    instance_admin,
    instances,
    lead_desk,
    lead_messages,
    leads,
    me,
    metrics,
    ops,
    outcomes,
)
from backoffice_api.settings import Settings
from backoffice_api.store import ReadModels

log = structlog.get_logger("backoffice_api")

DESCRIPTION = """The operators' API over leads, deals, contracts, instances, metrics and the event bus.

Every `/v1` request carries an `X-API-Key` bound to one company and a set of scopes; answers carry
`X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`. Errors are
`{"error": {"code", "message", "problems"?}}`.
"""


def create_app(settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """``transport`` replaces the network for every upstream call (tests pass fakes of the other services)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            bus = await stack.enter_async_context(servicekit.bus_for(app, settings, service=SERVICE))
            redis = eventbus.connect(settings.redis_url, decode_responses=True)
            stack.push_async_callback(redis.aclose)
            await eventbus.warm(redis)  # the bus's own client is warmed by bus_for

            async def http(url: object) -> httpx.AsyncClient:
                client = servicekit.http_client(
                    base_url=str(url), transport=transport, timeout=settings.upstream_timeout
                )
                return await stack.enter_async_context(client)

            ks = Keyspace(bus.keys)
            models = ReadModels(redis, ks, marker_ttl=bus.settings.processed_retention)
            deal_store = Deals(redis, ks)
            live = LiveHub(bus, per_key=settings.sse_max_streams_per_key, total=settings.sse_max_streams)
            stack.push_async_callback(live.aclose)
            outcome_owners = OutcomeOwners(
                {
                    "evolution-manager": Owner(await http(settings.evolution_url), settings.evolution_token),
                    "facebook-capi": Owner(await http(settings.capi_url), settings.capi_token),
                    "autentique-service": Owner(
                        await http(settings.autentique_url), settings.autentique_token
                    ),
                }
            )
            app.state.ports = Ports(
                settings=settings,
                bus=bus,
                models=models,
                deals=deal_store,
                api_keys=ApiKeys(redis, ks),
                limiter=RateLimiter(redis, ks),
                reports=Reports(
                    redis, ks, models, cache_for=timedelta(seconds=settings.metrics_cache_seconds)
                ),
                autentique=AutentiqueClient(
                    await http(settings.autentique_url), token=settings.autentique_token
                ),
                evolution=EvolutionAdminClient(
                    await http(settings.evolution_url), token=settings.evolution_token
                ),
                agent=AgentAdminClient(await http(settings.agent_url), token=settings.agent_token),
                live=live,
                capi=CapiSettingsClient(await http(settings.capi_url), token=settings.capi_token),
                outcome_owners=outcome_owners,
            )
            if settings.consume:
                subscriptions = [
                    Subscription(channel, handler)
                    for channel, handler in handlers.reactions(models, deal_store).items()
                ]
                await stack.enter_async_context(
                    servicekit.consuming(
                        app,
                        bus,
                        settings,
                        group=SERVICE,
                        subscriptions=subscriptions,
                    )
                )
            yield

    app = FastAPI(
        title=SERVICE,
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        **servicekit.docs_options(settings),
    )
    # lead_desk before leads: its /v1/leads/search must not reach /v1/leads/{lead_id}.
    for module in (
        lead_desk,
        lead_messages,
        leads,
        deals,
        conversions,
        contracts,
        contract_actions,
        instances,
        instance_admin,
        metrics,
        events,
        ops,
        outcomes,
        me,
        admin,
        admin_keys,
        admin_capi,
    ):
        app.include_router(module.router)
    app.include_router(agent_settings.router)
    app.mount("/console", console_app(), name="console")
    servicekit.install(app, service=SERVICE, max_body_bytes=settings.max_body_bytes, settings=settings)
    app.add_exception_handler(InvalidParameter, _invalid_parameter)
    app.add_exception_handler(RedisError, _redis_unavailable)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(Access)
    return app


async def _invalid_parameter(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidParameter)
    body = error_body(422, str(exc), problems=[{"field": exc.field, "problem": exc.problem}])
    return JSONResponse(body, status_code=422)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own answers (unknown path, wrong method, a body that is not JSON at all) in our shape."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        body = error_body(
            400, "body: not valid JSON", problems=[{"field": "body", "problem": str(exc.detail)}]
        )
        body["error"]["code"] = "bad_request"
    else:
        body = error_body(exc.status_code, str(exc.detail))
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _redis_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("request_failed", status=503, error=type(exc).__name__, path=request.url.path)
    body = error_body(503, "the read models are unavailable; retry later")
    return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})
