"""Composition root: builds the bus handle, the Autentique client, the store and the routes; nothing runs at
import."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import servicekit
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from servicekit import error_body, outcome_routes
from servicekit.outcomes import Desk, Records
from servicekit.upstream import Breakers

from autentique_service import SERVICE, api, followups_api
from autentique_service.clients.autentique import AutentiqueClient, DocumentRejected, ResentRecently
from autentique_service.contracts import Contracts
from autentique_service.followups import REMIND_EFFECT, REMIND_TTL, FollowUps
from autentique_service.idempotency import IdempotencyKeyReused, IdempotentRequests, RequestInProgress
from autentique_service.issuing import Issuer
from autentique_service.rendering import TemplateInvalid
from autentique_service.settings import Settings
from autentique_service.tracking import Tracker


def create_app(settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with (
            servicekit.bus_for(app, settings, service=SERVICE) as bus,
            servicekit.http_client(transport=transport, timeout=settings.request_timeout) as http,
        ):
            autentique = AutentiqueClient(
                http,
                url=settings.api_url,
                token=settings.api_token,
                company_tokens=settings.company_api_tokens,
                breakers=Breakers(
                    failure_threshold=settings.breaker_failures,
                    recovery_timeout=settings.breaker_recovery_seconds,
                ),
                timeout=settings.request_timeout,
                sandbox=settings.sandbox,
            )
            contracts = Contracts(bus)
            tracker = Tracker(contracts, bus, replay_window_days=settings.webhook_replay_window_days)
            issuer = Issuer(
                contracts,
                autentique,
                bus,
                tracker,
                templates_dir=settings.templates_dir,
                attempts=settings.create_attempts,
                retry_initial_delay=settings.retry_initial_delay,
                # Longer than every attempt may take, so that the lock outlives the request holding it.
                lock_seconds=settings.create_attempts * (settings.request_timeout + 10),
            )
            idempotency = IdempotentRequests(
                bus,
                contracts,
                ttl_hours=settings.idempotency_hours,
                claim_seconds=issuer.lock_seconds,
                wait_seconds=settings.idempotency_wait_seconds,
            )
            # createDocument's unknown outcomes, for an operator (backoffice-api's /v1/ops/outcomes). An effect
            # of an HTTP request: no dead letter to replay; the caller's retry finds the decision.
            records = issuer.records()
            reminders = Records(
                bus.redis,
                service=SERVICE,
                effect=REMIND_EFFECT,
                # In the contract's slot (effect ids start with the contract id), like createDocument's.
                key_of=lambda effect_id: bus.keys.service(
                    SERVICE, f"{{{effect_id.split(':', 1)[0]}}}", "reminder", effect_id.split(":", 1)[1]
                ),
                index_key=records.index_key,
                ttl=REMIND_TTL,
            )
            app.state.outcomes = Desk(
                bus, SERVICE, records.index_key, {records.effect: records, reminders.effect: reminders}
            )
            app.state.ports = api.Ports(
                contracts=contracts,
                issuer=issuer,
                tracker=tracker,
                idempotency=idempotency,
                followups=FollowUps(
                    contracts,
                    autentique,
                    reminders,
                    attempts=settings.create_attempts,
                    initial_delay=settings.retry_initial_delay,
                ),
                service_token=settings.service_token,
                webhook_secret=settings.webhook_secret,
                company_webhook_secrets=settings.company_webhook_secrets,
            )
            yield

    app = FastAPI(title=SERVICE, lifespan=lifespan, **servicekit.docs_options(settings))
    app.include_router(api.router)
    app.include_router(followups_api.router)
    app.include_router(outcome_routes.router(api.require_service_token))
    servicekit.install(app, service=SERVICE, max_body_bytes=settings.max_body_bytes, settings=settings)
    # This service's own errors; servicekit's table covers the shared ones (Starlette matches along the MRO,
    # so DocumentRejected is found here before servicekit's UpstreamRejected row).
    app.add_exception_handler(DocumentRejected, _answer(422, "invalid"))
    app.add_exception_handler(ResentRecently, _answer(429, "resent_recently"))
    app.add_exception_handler(TemplateInvalid, _answer(500, "template_invalid"))
    app.add_exception_handler(IdempotencyKeyReused, _answer(422, "idempotency_key_reused"))
    app.add_exception_handler(RequestInProgress, _answer(409, "in_progress"))
    return app


def _answer(status: int, code: str) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        body = error_body(status, str(exc))
        body["error"]["code"] = code
        return JSONResponse(body, status_code=status)

    return handle
