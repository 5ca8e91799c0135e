"""A person writing from the business's phone, and an operator's reply through the admin API."""

from __future__ import annotations

from typing import Any

from agent_runtime import human_replies
from agent_runtime.operator_replies import derived_id
from eventbus import Envelope, MessageReceived, group_stats
from eventbus.testing.waiting import eventually

COMPANY = "cmp_01J8Z0P1F7K4V6E9QW3M0N1B2C"
OTHER = "cmp_01J8Z0P1F7K4V6E9QW3M0N1XXX"
AUTH = {"Authorization": "Bearer dev-service-token"}
PHONE = "+5511999990001"


async def _lead(agent) -> str:
    await agent.answer("Oi", phone=PHONE)
    return str((await agent.events("lead.created"))[0].payload.lead_id)


async def _typed_on_phone(agent, text: str) -> Envelope[Any]:
    payload = MessageReceived.model_validate(
        {
            "instance_id": "ins_1",
            "lead_external_id": f"wa:{PHONE}",
            "from": PHONE,
            "body": text,
            "from_me": True,
        }
    )
    event = Envelope.new(payload, source="evolution-manager", company_id=COMPANY)
    await agent.bus.publish(event)
    return event


async def _handoff(agent, lead_id: str) -> dict[str, Any]:
    response = await agent.http.get(
        f"/v1/leads/{lead_id}/handoff", headers=AUTH, params={"company_id": COMPANY}
    )
    return dict(response.json())


async def test_a_person_writing_from_the_phone_hands_the_lead_off_and_is_never_answered(make_agent):
    async with make_agent() as agent:
        lead_id = await _lead(agent)
        typed = await _typed_on_phone(agent, "Oi Maria, aqui é o Carlos da equipe")

        async def handed_off() -> bool:
            return bool((await _handoff(agent, lead_id))["active"])

        await eventually(handed_off, timeout=10)
        handoff = await _handoff(agent, lead_id)
        assert handoff["reason"] == human_replies.REASON and handoff["requested_by"] == "phone"
        await agent.send("Quanto custa para 100 pessoas?", phone=PHONE)  # the lead writes again
        replies = await agent.replies_to(PHONE)
        assert [r for r in replies if r.causation_id == typed.id] == []
        assert len(replies) == 1  # only the answer to "Oi", before the person wrote


async def test_with_the_company_setting_off_the_agent_keeps_the_lead_but_never_answers_the_person(make_agent):
    async with make_agent() as agent:
        path = f"/v1/companies/{COMPANY}/agent-settings"  # the company's agent settings (agent_settings.py)
        settings = (await agent.http.get(path, headers=AUTH)).json()["settings"]
        saved = await agent.http.put(
            path, headers=AUTH, json={"settings": settings | {"handoff_on_human_reply": False}}
        )
        assert saved.status_code == 200, saved.text
        lead_id = await _lead(agent)
        typed = await _typed_on_phone(agent, "Oi Maria, aqui é o Carlos")
        # Messages of one lead are handled in order: once this is answered, the person's message was handled.
        await agent.answer("Somos 100 pessoas", phone=PHONE)
        assert (await _handoff(agent, lead_id))["active"] is False
        assert [r for r in await agent.replies_to(PHONE) if r.causation_id == typed.id] == []


def _reply(key: str = "key-1", text: str = "Olá Maria, sou a Ana.", company: str = COMPANY) -> dict[str, Any]:
    return {"company_id": company, "instance_id": "ins_1", "text": text, "idempotency_key": key}


async def test_an_operator_reply_is_published_once_as_message_sent_by_the_operator(make_agent):
    async with make_agent() as agent:
        lead_id = await _lead(agent)
        first = await agent.http.post(f"/v1/leads/{lead_id}/messages", headers=AUTH, json=_reply())
        again = await agent.http.post(f"/v1/leads/{lead_id}/messages", headers=AUTH, json=_reply())
        assert first.status_code == again.status_code == 202
        assert first.json()["handed_off"] is True and first.json()["duplicate"] is False
        assert again.json()["event_id"] == first.json()["event_id"] and again.json()["duplicate"] is True
        assert first.json()["event_id"] == derived_id("evt", COMPANY, lead_id, "key-1")
        sent = [e for e in await agent.replies_to(PHONE) if e.payload.author == "operator"]
        assert len(sent) == 1
        [event] = sent
        assert event.id == first.json()["event_id"]
        assert event.correlation_id == derived_id("cor", COMPANY, lead_id, "key-1")
        assert [m.text for m in event.payload.messages] == ["Olá Maria, sou a Ana."]
        assert (await _handoff(agent, lead_id))["reason"] == "operator_reply"


async def test_an_operator_reply_needs_the_token_and_the_leads_company(make_agent):
    async with make_agent() as agent:
        lead_id = await _lead(agent)
        url = f"/v1/leads/{lead_id}/messages"
        assert (await agent.http.post(url, json=_reply())).status_code == 401
        assert (await agent.http.post(url, headers=AUTH, json=_reply(company=OTHER))).status_code == 404
        bad = await agent.http.post(url, headers=AUTH, json=_reply(text=""))
        assert bad.status_code == 422 and "text" in bad.text
    assert [e for e in await agent.events("message.sent") if e.payload.author == "operator"] == []


async def test_an_operators_handoff_is_kept_when_a_person_then_writes_from_the_phone(make_agent):
    async with make_agent() as agent:
        lead_id = await _lead(agent)  # the process remembers this lead's state (no handoff in it)
        put = await agent.http.put(
            f"/v1/leads/{lead_id}/handoff",
            headers=AUTH,
            json={"company_id": COMPANY, "reason": "cliente VIP", "requested_by": "ana"},
        )
        assert put.status_code == 200
        await _typed_on_phone(agent, "Oi Maria, aqui é o Carlos")
        await agent.send("Oi Carlos!", phone=PHONE)

        async def handled() -> bool:
            groups = await group_stats(agent.bus, "message.received")
            return any(g.group == "agent-runtime" and g.pending == 0 and not g.lag for g in groups)

        await eventually(handled, timeout=10)
        handoff = await _handoff(agent, lead_id)
        assert handoff["active"] is True and handoff["reason"] == "cliente VIP"
        assert handoff["requested_by"] == "ana"
