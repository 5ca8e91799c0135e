"""Fixtures for facebook-capi: the fake Graph API in-process, and the service on a fresh bus prefix."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
from eventbus import Bus, BusSettings, ContractSigned, Envelope, LeadCreated, LeadQualified
from eventbus.testing.waiting import eventually
from facebook_capi.app import create_app
from facebook_capi.settings import Settings
from fakes import graph
from fakes.graph import GraphState
from servicekit.secretbox import generate_key
from servicekit.testing import ADMIN, ADMIN_TOKEN, asgi, serving, settings_for

PIXEL = "1234567890"
# Distinctive, so that a test can look for it in every log line and response.
TOKEN = "EAAGtest-SECRET-capi-token-0123456789"
WABA = "102030405060708"
COMPANY = "cmp_01J8Z0P1F7K4V6E9QW3M0N1B2C"
CLID = "ARAkPLACEHOLDERctwaClidValue-EXAMPLE-0123456789"


@pytest.fixture
def fake_graph() -> GraphState:
    state = GraphState()
    state.add_pixel(PIXEL, TOKEN)
    return state


@dataclass
class Service:
    app: Any
    http: httpx.AsyncClient
    graph: GraphState
    bus: Bus

    async def configure(self, company_id: str = COMPANY, **overrides: Any) -> httpx.Response:
        body = {"pixel_id": PIXEL, "access_token": TOKEN, "waba_id": WABA, "enabled": True, **overrides}
        response = await self.http.put(f"/v1/companies/{company_id}/capi", json=body, headers=ADMIN)
        assert response.status_code == 200, response.text
        return response

    async def stats(self, company_id: str = COMPANY) -> dict[str, int]:
        response = await self.http.get(f"/v1/companies/{company_id}/capi/stats", headers=ADMIN)
        return dict(response.json()["counts"])

    def received(self, pixel_id: str = PIXEL) -> list[dict[str, Any]]:
        return self.graph.events_for(pixel_id)

    def event_requests(self) -> int:
        return sum(1 for r in self.graph.requests if r.path.endswith("/events"))

    async def wait_received(self, count: int, pixel_id: str = PIXEL) -> list[dict[str, Any]]:
        async def enough() -> list[dict[str, Any]] | None:
            got = self.received(pixel_id)
            return got if len(got) >= count else None

        return await eventually(enough, timeout=10)


#: One key for the session: a service started again within a test opens what it sealed before.
SECRETS_KEYS = generate_key()


@pytest.fixture
def make_service(
    redis_url: str, service_redis_url: Callable[[str], str], bus_settings: BusSettings, fake_graph: GraphState
) -> Callable[..., Any]:
    @asynccontextmanager
    async def start(
        *, transport: httpx.AsyncBaseTransport | None = None, **overrides: Any
    ) -> AsyncIterator[Service]:
        settings = settings_for(
            Settings,
            "facebook-capi",
            service_redis_url=service_redis_url,
            bus_settings=bus_settings,
            secrets_keys=SECRETS_KEYS,
            admin_token=ADMIN_TOKEN,  # the operators' credential in these tests
            **{
                "graph_url": "http://graph.test",
                "consumer_name": "capi-test",
                "batch_max_delay": 0.02,
                "retry_initial_delay": 0.01,
                "retry_max_delay": 0.05,
                **overrides,
            },
        )
        app = create_app(settings, transport=transport or asgi(graph.create_app(fake_graph)))
        async with (
            Bus.from_url(redis_url, source="agent-runtime", settings=bus_settings) as bus,
            serving(app) as http,
        ):
            yield Service(app, http, fake_graph, bus)

    return start


@pytest.fixture
async def service(make_service: Callable[..., Any]) -> AsyncIterator[Service]:
    async with make_service() as running:
        yield running


def lead_created(
    lead_id: str = "lead_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1",
    *,
    phone: str | None = "+5511987654321",
    ctwa_clid: str | None = CLID,
    company_id: str = COMPANY,
    occurred_at: datetime | None = None,
) -> Envelope[LeadCreated]:
    payload = LeadCreated(
        lead_id=lead_id,
        company_id=company_id,
        channel="whatsapp",
        source="ads" if ctwa_clid else "organic",
        lead_external_id=f"wa:{phone}" if phone else None,
        ctwa_clid=ctwa_clid,
    )
    return Envelope.new(payload, source="agent-runtime", company_id=company_id, occurred_at=occurred_at)


def lead_qualified(
    lead_id: str = "lead_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1", *, company_id: str = COMPANY
) -> Envelope[Any]:
    payload = LeadQualified(lead_id=lead_id, company_id=company_id, score=0.9, criteria=["budget"])
    return Envelope.new(payload, source="agent-runtime", company_id=company_id)


def contract_signed(
    lead_id: str | None = "lead_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1",
    *,
    company_id: str = COMPANY,
    value: float = 1497.9,
) -> Envelope[Any]:
    payload = ContractSigned(
        contract_id="ctr_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1",
        deal_id="deal_1",
        company_id=company_id,
        signed_at=datetime.now().astimezone(),
        value=value,
        currency="BRL",
        lead_id=lead_id,
    )
    return Envelope.new(payload, source="autentique-service", company_id=company_id)


@pytest.fixture
def events() -> Any:
    """The builders above, for test modules (which cannot import conftest)."""

    @dataclass(frozen=True)
    class Builders:
        lead_created: Callable[..., Envelope[Any]] = lead_created
        lead_qualified: Callable[..., Envelope[Any]] = lead_qualified
        contract_signed: Callable[..., Envelope[Any]] = contract_signed

    return Builders()


@pytest.fixture
def secrets_keys() -> str:
    """The key every in-process service of the session seals with: a process a test starts itself gets it too,
    so that what one wrote the other reads."""
    return SECRETS_KEYS
