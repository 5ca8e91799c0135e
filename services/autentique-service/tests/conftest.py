"""A service wired to the fake Autentique in-process, with helpers that read what reached the bus."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from autentique_service.app import create_app
from autentique_service.settings import Settings
from eventbus import Bus, BusSettings
from fakes import autentique
from fakes.autentique import AutentiqueState, WebhookEndpoint, sign_webhook_body
from servicekit.testing import asgi, published, serving, settings_for

TOKEN = "svc-token"
API_TOKEN = "test-autentique-token"
SECRET = "whsec_test_deployment"
COMPANY = "cmp_01J8Z0P1F7K4V6E9QW3M0N1B2C"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def contract_request(deal_id: str = "deal_1", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "deal_id": deal_id,
        "lead_id": "lead_01J8Z0P2",
        "company_id": COMPANY,
        "value": 15000,
        "currency": "BRL",
        "event": {
            "type": "Casamento",
            "date": "2026-03-14",
            "guests": 120,
            "location": "Espaço Jardim, São Paulo",
        },
        "signers": [
            {"name": "Maria Souza", "email": "maria.souza@example.com", "delivery": "email"},
            {"name": "Ana Lima", "phone": "+5521998765432", "delivery": "whatsapp"},
        ],
        "reissue": False,
    }
    body.update(overrides)
    return body


def webhook_body(
    event_type: str, data: dict[str, Any], *, event_id: str = "6f1c2a9e-3b7d-4e15-9a0c-8d2f5b1e7c43"
) -> bytes:
    envelope = {
        "id": "NDgyMXw2ZjFj",
        "object": "webhook",
        "name": "crm-test",
        "format": "json",
        "url": "http://svc.test/webhooks/autentique",
        "event": {
            "id": event_id,
            "object": "event",
            "organization": 4821,
            "type": event_type,
            "data": data,
            "previous_attributes": [],
            "created_at": "2025-10-21T14:12:40.512934Z",
        },
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


@dataclass
class Service:
    http: httpx.AsyncClient
    fake: AutentiqueState
    bus: Bus
    settings: Settings

    company: str = COMPANY
    secret: str = SECRET
    auth = AUTH

    request = staticmethod(contract_request)
    webhook_body = staticmethod(webhook_body)

    async def create(self, body: dict[str, Any] | None = None, **kwargs: Any) -> httpx.Response:
        return await self.http.post("/v1/contracts", json=body or contract_request(), headers=AUTH, **kwargs)

    async def get(self, contract_id: str) -> httpx.Response:
        return await self.http.get(f"/v1/contracts/{contract_id}", headers=AUTH)

    async def events(self, channel: str) -> list[Any]:
        return await published(self.bus, channel)

    async def post_webhook(
        self, body: bytes, *, secret: str = SECRET, params: dict[str, str] | None = None
    ) -> httpx.Response:
        headers = {
            "Content-Type": "application/json",
            "X-Autentique-Signature": sign_webhook_body(body, secret),
        }
        return await self.http.post("/webhooks/autentique", content=body, headers=headers, params=params)


@pytest.fixture
def fake() -> AutentiqueState:
    return AutentiqueState(api_token=API_TOKEN, retry_delay_scale=0.0)


@pytest.fixture
def settings(service_redis_url: Callable[[str], str], bus_settings: BusSettings) -> Settings:
    return settings_for(
        Settings,
        "autentique-service",
        service_redis_url=service_redis_url,
        bus_settings=bus_settings,
        api_url="http://autentique.test/v2/graphql",
        api_token=API_TOKEN,
        service_token=TOKEN,
        webhook_secret=SECRET,
        request_timeout=2.0,
        retry_initial_delay=0.01,
        sandbox=True,
    )


@pytest.fixture
def make_service(fake: AutentiqueState, bus: Bus) -> Callable[[Settings], Any]:
    @asynccontextmanager
    async def make(settings: Settings) -> AsyncIterator[Service]:
        app = create_app(settings, transport=asgi(autentique.create_app(fake)))
        async with serving(app, base_url="http://svc.test") as http:
            # The fake delivers its webhooks straight into this app, signed with the deployment secret.
            fake.webhook_transport = asgi(app)
            fake.webhook = WebhookEndpoint(url="http://svc.test/webhooks/autentique", secret=SECRET)
            yield Service(http, fake, bus, settings)

    return make


@pytest.fixture
async def service(make_service: Callable[[Settings], Any], settings: Settings) -> AsyncIterator[Service]:
    async with make_service(settings) as running:
        yield running
