"""The service over ASGI on the session's real Redis, with the fake Evolution API in-process.

``service`` starts the app (its consumer included) on a fresh key prefix, registers the instance
``vendas-01`` through the admin API, and hands the test an HTTP client plus helpers to read what was
published.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from eventbus import Bus, BusSettings, Envelope, MessageSent, OutgoingMessage
from evolution_manager.app import create_app
from evolution_manager.settings import Settings
from fakes import evolution as fake_evolution
from fastapi import FastAPI
from servicekit.secretbox import generate_key
from servicekit.testing import ADMIN, ADMIN_TOKEN, asgi, published, serving, settings_for

COMPANY = "cmp_01J8Z0P1F7K4V6E9QW3M0N1B2C"
INSTANCE = "vendas-01"
INSTANCE_APIKEY = "fake-instance-apikey-vendas-01"
SECRET = "s3cr3t-webhook-secret-of-vendas-01-32b"
OPERATOR_TOKEN = "platform-operator-token-for-tests"
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


@dataclass
class Service:
    COMPANY = COMPANY
    INSTANCE = INSTANCE
    SECRET = SECRET
    ADMIN = ADMIN
    OPERATOR = OPERATOR
    INSTANCE_APIKEY = INSTANCE_APIKEY

    app: FastAPI
    http: httpx.AsyncClient
    fake: fake_evolution.EvolutionState
    bus: Bus
    instance: dict[str, Any]

    async def post_webhook(
        self, envelope: dict[str, Any], *, headers: dict[str, str] | None = None, path: str = ""
    ) -> httpx.Response:
        sent = {"x-shared-secret": SECRET} if headers is None else headers
        return await self.http.post(f"/webhooks/evolution{path}", json=envelope, headers=sent)

    async def published(self, channel: str) -> list[Envelope[Any]]:
        return await published(self.bus, channel)

    async def reply(self, *texts: str, to: str = "+5511987654321", correlation_id: str | None = None) -> str:
        """Publish a message.sent as agent-runtime would; returns its correlation id."""
        payload = MessageSent(
            instance_id=self.instance["instance_id"], to=to, messages=[OutgoingMessage(text=t) for t in texts]
        )
        event = Envelope.new(
            payload, source="agent-runtime", company_id=COMPANY, correlation_id=correlation_id
        )
        await self.bus.publish(event)
        return event.correlation_id

    def sent_texts(self, instance: str = INSTANCE) -> list[str]:
        return [s.request["text"] for s in self.fake.sent if s.instance == instance]

    async def register(self, name: str, *, as_: dict[str, str] = OPERATOR, **body: Any) -> dict[str, Any]:
        """As the platform operator unless told otherwise (``as_=ADMIN``: a company, through backoffice)."""
        response = await self.http.put(f"/v1/instances/{name}", json=body, headers=as_)
        assert response.status_code in (200, 201), response.text
        return dict(response.json())


@pytest.fixture
def fake() -> fake_evolution.EvolutionState:
    state = fake_evolution.EvolutionState()
    state.add_instance(INSTANCE, INSTANCE_APIKEY)
    return state


#: One key for the whole test: a service restarted within a test must open what it sealed before.
SECRETS_KEYS = generate_key()


@pytest.fixture
def make_settings(
    service_redis_url: Callable[[str], str], bus_settings: BusSettings
) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "secrets_keys": SECRETS_KEYS,
            "consumer_name": "tests",
            "admin_token": ADMIN_TOKEN,  # backoffice-api's credential in these tests
            "refresh_on_start": False,
            "send_backoff_initial": 0.01,
            "send_backoff_max": 0.05,
            "reply_backoff_initial": 0.05,
            "reply_backoff_max": 0.2,
            "operator_token": OPERATOR_TOKEN,
        }
        return settings_for(
            Settings,
            "evolution-manager",
            service_redis_url=service_redis_url,
            bus_settings=bus_settings,
            **(values | overrides),
        )

    return make


@pytest.fixture
def run_service(
    fake: fake_evolution.EvolutionState, make_settings: Callable[..., Settings], bus: Bus
) -> Callable[..., Any]:
    @asynccontextmanager
    async def run(
        *, register: bool = True, transport: httpx.AsyncBaseTransport | None = None, **overrides: Any
    ) -> AsyncIterator[Service]:
        settings = make_settings(**overrides)
        app = create_app(settings, transport=transport or asgi(fake_evolution.create_app(fake)))
        async with serving(app) as http:
            # the tests' own bus (the admin user): they publish as other services, which the app's ACL user may not
            service = Service(app, http, fake, bus, {})
            if register:
                service.instance = await service.register(
                    INSTANCE, company_id=COMPANY, webhook_secret=SECRET, api_key=INSTANCE_APIKEY
                )
            yield service

    return run


@pytest.fixture
async def service(run_service: Callable[..., Any]) -> AsyncIterator[Service]:
    async with run_service() as running:
        yield running
