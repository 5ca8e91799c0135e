"""The conversation part of a lead's day, through evolution-manager, agent-runtime and backoffice-api (each a
real app, in-process, on its own Redis ACL user) and WhatsApp (the fake Evolution, delivering its webhooks to
evolution-manager as Evolution does, echoes of sends included):

the lead writes → the agent answers → an operator hands the lead off → the operator's reply, requested twice
with one Idempotency-Key, is sent once → a person writes from the phone → the timeline shows all of it once,
in order; and a person writing from the phone hands a lead off by itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from agent_runtime.app import create_app as create_agent_runtime
from agent_runtime.settings import Settings as AgentSettings
from asgi_lifespan import LifespanManager
from backoffice_api.apikeys import SCOPES, ApiKeys
from backoffice_api.app import create_app as create_backoffice
from backoffice_api.settings import Settings as BackofficeSettings
from eventbus import Bus, Envelope, catalog, group_stats
from eventbus.testing.waiting import eventually
from evolution_manager.app import create_app as create_evolution_manager
from evolution_manager.settings import Settings as EvolutionSettings
from fakes import evolution as fake_evolution
from fakes.evolution_webhooks import text_message_webhook
from servicekit.secretbox import generate_key

COMPANY = "cmp_01J8Z0P1F7K4V6E9QW3M0N1B2C"
INSTANCE = "vendas-01"
INSTANCE_APIKEY = "fake-instance-apikey-vendas-01"
WEBHOOK_SECRET = "s3cr3t-webhook-secret-of-vendas-01-32b"
AGENT_TOKEN = "agent-admin-token"
OPERATOR_TOKEN = "platform-operator-token"
LEAD_NUMBER = "5511987654321"
LONG = "Oi! Queremos fazer o casamento em março, uns 120 convidados, no sábado à noite. " * 5


class ToAgentRuntime(httpx.AsyncBaseTransport):
    """backoffice-api's calls to agent-runtime (its port) reach the app; nothing else is up."""

    def __init__(self, agent: Any) -> None:
        self.agent = httpx.ASGITransport(app=agent)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.port == 8002:
            return await self.agent.handle_async_request(request)
        return httpx.Response(503, json={"error": {"code": "unavailable", "message": "not in this test"}})


@dataclass
class Desk:
    backoffice: httpx.AsyncClient
    headers: dict[str, str]
    fake: fake_evolution.EvolutionState
    bus: Bus

    async def lead_writes(self, text: str, *, from_me: bool = False) -> None:
        # WhatsApp stamps messages in whole seconds, our replies in milliseconds: a message typed in the same
        # second as a reply would sort before it. A person takes longer than that to type.
        await asyncio.sleep(1 - time.time() % 1)
        envelope = text_message_webhook(
            instance=INSTANCE,
            from_number=LEAD_NUMBER,
            text=text,
            push_name="Maria Souza",
            from_me=from_me,
            origin=self.fake.origin_for(INSTANCE),
        )
        delivery = await self.fake.deliver(envelope)
        assert delivery.delivered, delivery.to_dict()

    def sent(self) -> list[str]:
        return [s.request["text"] for s in self.fake.sent]

    async def lead_id(self) -> str:
        async def found() -> str | None:
            response = await self.backoffice.get(
                "/v1/leads/search", params={"phone": LEAD_NUMBER}, headers=self.headers
            )
            return str(response.json()["lead_id"]) if response.status_code == 200 else None

        return str(await eventually(found, timeout=10))

    async def timeline(self, lead_id: str) -> list[dict[str, Any]]:
        response = await self.backoffice.get(f"/v1/leads/{lead_id}", headers=self.headers)
        entries = response.json()["timeline"]
        return [e["details"] for e in reversed(entries) if e["type"].startswith("message.")]

    async def events(self, channel: str) -> list[Envelope[Any]]:
        rows = await self.bus.redis.xrange(self.bus.keys.stream(channel))
        return [catalog.parse(fields[b"e"]) for _, fields in rows]

    async def replies_handled(self) -> bool:
        """evolution-manager has handled every message.sent published so far."""
        groups = await group_stats(self.bus, "message.sent")
        return any(g.group == "evolution-manager" and g.pending == 0 and not g.lag for g in groups)


@pytest.fixture
async def desk(service_redis_url, bus_settings, bus) -> AsyncIterator[Desk]:
    common = {
        "bus_prefix": bus_settings.prefix,
        "bus_live_prefix": bus_settings.live_prefix,
        "consumer_name": "e2e",
        "consumer_block_seconds": 0.1,
    }
    fake = fake_evolution.EvolutionState(retry_delay_scale=0.0)
    fake.add_instance(
        INSTANCE,
        INSTANCE_APIKEY,
        webhook=fake_evolution.InstanceWebhook(
            url="http://evolution-manager.test/webhooks/evolution",
            headers={"x-shared-secret": WEBHOOK_SECRET},
        ),
    )
    evolution_manager = create_evolution_manager(
        EvolutionSettings(
            redis_url=service_redis_url("evolution-manager"),
            secrets_keys=generate_key(),
            admin_token="evolution-admin-token",
            operator_token=OPERATOR_TOKEN,
            refresh_on_start=False,
            send_backoff_initial=0.01,
            **common,
        ),
        transport=httpx.ASGITransport(app=fake_evolution.create_app(fake)),
    )
    fake.webhook_transport = httpx.ASGITransport(app=evolution_manager)
    agent = create_agent_runtime(
        AgentSettings(redis_url=service_redis_url("agent-runtime"), admin_token=AGENT_TOKEN, **common)
    )
    backoffice = create_backoffice(
        BackofficeSettings(redis_url=service_redis_url("backoffice-api"), agent_token=AGENT_TOKEN, **common),
        transport=ToAgentRuntime(agent),
    )
    async with (
        LifespanManager(evolution_manager),
        LifespanManager(agent),
        LifespanManager(backoffice),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=evolution_manager), base_url="http://em") as em,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=backoffice), base_url="http://bo") as bo,
    ):
        registered = await em.put(
            f"/v1/instances/{INSTANCE}",
            json={"company_id": COMPANY, "webhook_secret": WEBHOOK_SECRET, "api_key": INSTANCE_APIKEY},
            headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
        )
        assert registered.status_code == 201, registered.text
        keys = ApiKeys(backoffice.state.ports.models.redis, backoffice.state.ports.models.ks)
        secret, _ = await keys.create(
            company_id=COMPANY, scopes=set(SCOPES), rate_per_minute=10_000, burst=1_000
        )
        yield Desk(bo, {"X-API-Key": secret}, fake, bus)
        await fake.drain()


async def test_agent_then_handoff_then_one_operator_reply_then_a_phone_reply_all_shown_once(desk) -> None:
    await desk.lead_writes(LONG)
    await eventually(lambda: _true(len(desk.sent()) >= 1), timeout=15)
    agent_texts = desk.sent()
    lead_id = await desk.lead_id()

    handoff = await desk.backoffice.put(
        f"/v1/leads/{lead_id}/handoff", json={"reason": "cliente pediu uma pessoa"}, headers=desk.headers
    )
    assert handoff.status_code == 200 and handoff.json()["active"] is True

    reply = {"text": "Olá Maria, aqui é a Ana. Posso te ligar às 15h?"}
    headers = desk.headers | {"Idempotency-Key": "ana-reply-1"}
    first = await desk.backoffice.post(f"/v1/leads/{lead_id}/messages", json=reply, headers=headers)
    again = await desk.backoffice.post(f"/v1/leads/{lead_id}/messages", json=reply, headers=headers)
    assert first.status_code == again.status_code == 202, first.text
    assert again.json() == first.json() and first.json()["handed_off"] is False  # handed off just before
    await eventually(lambda: _true(reply["text"] in desk.sent()), timeout=15)
    await eventually(desk.replies_handled, timeout=15)
    assert desk.sent().count(reply["text"]) == 1  # one sendText at WhatsApp
    operator = [e for e in await desk.events("message.sent") if e.payload.author == "operator"]
    assert [e.id for e in operator] == [first.json()["event_id"]]

    await desk.lead_writes("Oi Maria, aqui é o Carlos, sócio da Ana", from_me=True)

    async def whole() -> list[dict[str, Any]] | None:
        messages = await desk.timeline(lead_id)
        return messages if messages and messages[-1].get("via") == "phone" else None

    messages = await eventually(whole, timeout=15)
    authors = [(m["author"], m.get("via")) for m in messages]
    assert authors == [("lead", None)] + [("agent", None)] * (len(authors) - 3) + [
        ("human", "api"),
        ("human", "phone"),
    ]
    assert messages[0]["text"] == LONG and messages[0]["contact_name"] == "Maria Souza"
    assert [t for m in messages[1:-2] for t in m["texts"]] == agent_texts
    assert messages[-2]["texts"] == [reply["text"]]  # the send.message echo was not shown again
    assert messages[-1]["text"] == "Oi Maria, aqui é o Carlos, sócio da Ana"
    # The fake echoed every send as send.message, each delivered and ignored.
    echoes = [d for d in desk.fake.deliveries if d.event == "send.message"]
    assert len(echoes) == len(desk.sent()) and all(d.delivered for d in echoes)
    assert [e.payload.from_me for e in await desk.events("message.received")] == [False, True]
    assert desk.sent().count(reply["text"]) == 1 and len(desk.sent()) == len(agent_texts) + 1


async def test_a_person_writing_from_the_phone_hands_the_lead_off_and_the_agent_falls_silent(desk) -> None:
    await desk.lead_writes("Oi, quanto custa um buffet para 80 pessoas?")
    await eventually(lambda: _true(len(desk.sent()) >= 1), timeout=15)
    lead_id = await desk.lead_id()
    await desk.lead_writes("Oi! Aqui é o Carlos, eu mesmo te atendo.", from_me=True)

    async def handed_off() -> dict[str, Any] | None:
        response = await desk.backoffice.get(f"/v1/leads/{lead_id}/handoff", headers=desk.headers)
        return dict(response.json()) if response.json()["active"] else None

    state = await eventually(handed_off, timeout=15)
    assert state["reason"] == "human_replied_from_phone"
    before = len(desk.sent())
    await desk.lead_writes("Ótimo, Carlos! Pode ser sábado?")

    async def shown() -> bool:
        return len(await desk.timeline(lead_id)) >= before + 3

    await eventually(shown, timeout=15)
    await eventually(desk.replies_handled, timeout=15)
    assert len(desk.sent()) == before  # the agent answered neither the person nor the lead after


async def _true(value: bool) -> bool:
    return value
