"""Shared fixtures: the app on the session's Redis with a fresh bus prefix, a fixed clock, and helpers to
publish what evolution-manager would and to read what the agent published."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from agent_runtime.app import create_app
from agent_runtime.settings import Settings
from asgi_lifespan import LifespanManager
from eventbus import AdReferral, Bus, Envelope, MessageReceived
from eventbus.testing.waiting import eventually
from servicekit.testing import ADMIN_TOKEN, asgi, published, settings_for

COMPANY = "cmp_01J8Z0P1F7K4V6E9QW3M0N1B2C"
#: Tuesday 16 December 2025, 09:00 in São Paulo.
NOW = datetime(2025, 12, 16, 12, 0, tzinfo=UTC)


@pytest.fixture
def settings(service_redis_url, bus_settings) -> Settings:
    return settings_for(
        Settings,
        "agent-runtime",
        service_redis_url=service_redis_url,
        bus_settings=bus_settings,
        consumer_name="agent-test",
        admin_token=ADMIN_TOKEN,  # backoffice-api's credential in these tests
    )


class Harness:
    """Drives the agent like evolution-manager would, and reads the channels like the other services."""

    def __init__(self, bus: Bus, app) -> None:
        self.bus = bus
        self.app = app
        self.http = httpx.AsyncClient(transport=asgi(app), base_url="http://test")

    async def send(
        self,
        body: str | None,
        *,
        phone: str = "+5511999990001",
        media: dict[str, Any] | None = None,
        referral: AdReferral | None = None,
        company_id: str = COMPANY,
    ) -> Envelope[Any]:
        payload = MessageReceived.model_validate(
            {
                "instance_id": "ins_1",
                "lead_external_id": f"wa:{phone}",
                "from": phone,
                "body": body,
                "media": media,
                "referral": referral,
            }
        )
        event = Envelope.new(payload, source="evolution-manager", company_id=company_id)
        await self.bus.publish(event)
        return event

    async def events(self, channel: str) -> list[Envelope[Any]]:
        return await published(self.bus, channel)

    async def replies_to(self, phone: str) -> list[Envelope[Any]]:
        return [e for e in await self.events("message.sent") if e.payload.to == phone]

    async def answer(self, body: str | None, *, phone: str = "+5511999990001", **kwargs: Any) -> str:
        """Send one message and wait for its reply; the reply's text (messages joined by newlines)."""
        event = await self.send(body, phone=phone, **kwargs)

        async def replied():
            return [e for e in await self.replies_to(phone) if e.causation_id == event.id]

        (reply,) = await eventually(replied, timeout=10)
        return "\n".join(m.text for m in reply.payload.messages)


@pytest.fixture
def make_agent(settings, bus) -> Callable[..., Any]:
    """``async with make_agent(**settings_overrides, transport=, clock=) as agent``: the app, running."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def start(*, transport=None, clock=lambda: NOW, **overrides) -> AsyncIterator[Harness]:
        configured = Settings.model_validate(
            {**settings.model_dump(), **overrides}
        )  # validated, unlike model_copy
        app = create_app(configured, transport=transport, clock=clock)
        async with LifespanManager(app):
            harness = Harness(bus, app)
            try:
                yield harness
            finally:
                await harness.http.aclose()

    return start


@pytest.fixture
def answer():
    """A message handed straight to the handler (which replica gets it is the bus's choice; here the test
    picks), as a batch of one: it raises what the message failed with."""
    from agent_runtime.handlers import answer_message

    return answer_message
