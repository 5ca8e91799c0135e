"""The whole conversation in a lead's timeline, and an operator's reply: ``POST /v1/leads/{id}/messages``.

The reply's delivery through agent-runtime, evolution-manager and WhatsApp (the fake Evolution) is
tests/e2e/test_conversation.py; here agent-runtime is the conftest's stand-in.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from eventbus import LeadCreated, Media, MessageReceived, MessageSent, OutgoingMessage

COMPANY, OTHER = "cmp_A", "cmp_B"
PHONE = "+5511988887777"
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def at(second: int) -> datetime:
    """Distinct times: the timeline is ordered by when each message happened."""
    return T0 + timedelta(seconds=second)


LONG = "Queremos um buffet completo para o casamento, " * 20  # ~900 characters: no cut any more


def received(body: str | None, **fields: Any) -> MessageReceived:
    return MessageReceived.model_validate(
        {"instance_id": "ins_1", "lead_external_id": f"wa:{PHONE}", "from": PHONE, "body": body, **fields}
    )


async def a_conversation(publish, client, headers, until, lead_id: str = "lead_c") -> None:
    await publish(
        LeadCreated(lead_id=lead_id, company_id=COMPANY, channel="whatsapp", lead_external_id=f"wa:{PHONE}")
    )
    await publish(received(LONG, contact_name="Maria Souza"), occurred_at=at(0))
    await until(
        lambda: client.get(f"/v1/leads/{lead_id}", headers=headers),
        lambda r: r.status_code == 200 and r.json()["last_message"] is not None,
    )


def key(value: str = "op-reply-1") -> dict[str, str]:
    return {"Idempotency-Key": value}


async def test_the_timeline_holds_the_lead_the_agent_and_humans_whole_and_in_order(
    publish, client, headers, until
):
    await a_conversation(publish, client, headers, until)
    photo = Media.of_kind("image", url=None, mime_type="image/jpeg", sha256=None)
    await publish(received("Foto do salão", media=photo, contact_name="Maria Souza"), occurred_at=at(1))
    agent = MessageSent(instance_id="ins_1", to=PHONE, messages=[OutgoingMessage(text="Que lindo!")])
    await publish(agent, occurred_at=at(2))
    operator = MessageSent(
        instance_id="ins_1", to=PHONE, messages=[OutgoingMessage(text="Sou a Ana")], author="operator"
    )
    await publish(operator, occurred_at=at(3))
    await publish(received("Oi Maria, aqui é o Carlos", from_me=True), occurred_at=at(4))
    detail = await until(
        lambda: client.get("/v1/leads/lead_c", headers=headers),
        lambda r: len([e for e in r.json()["timeline"] if e["type"].startswith("message.")]) == 5,
    )
    messages = [e["details"] for e in reversed(detail.json()["timeline"]) if e["type"].startswith("message.")]
    assert [(m["author"], m.get("via")) for m in messages] == [
        ("lead", None),
        ("lead", None),
        ("agent", None),
        ("human", "api"),
        ("human", "phone"),
    ]
    assert messages[0]["text"] == LONG and messages[0]["contact_name"] == "Maria Souza"
    photo_entry = {k: messages[1].get(k) for k in ("text", "media", "media_type", "mime_type")}
    assert photo_entry == {
        "text": "Foto do salão",
        "media": "image",
        "media_type": "image",
        "mime_type": "image/jpeg",
    }
    assert messages[3]["texts"] == ["Sou a Ana"] and messages[3]["direction"] == "out"
    assert messages[4]["text"] == "Oi Maria, aqui é o Carlos" and messages[4]["direction"] == "out"
    assert "contact_name" not in messages[4]
    assert detail.json()["last_message"] == {
        "direction": "out",
        "text": "Oi Maria, aqui é o Carlos",
        "at": detail.json()["last_message"]["at"],
    }


async def test_an_operator_reply_is_asked_of_agent_runtime_once_per_idempotency_key(
    publish, client, headers, until, upstreams
):
    await a_conversation(publish, client, headers, until)
    body = {"text": "Olá Maria, aqui é a Ana."}
    first = await client.post("/v1/leads/lead_c/messages", json=body, headers=headers | key())
    again = await client.post("/v1/leads/lead_c/messages", json=body, headers=headers | key())
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert first.json()["handed_off"] is True and first.json()["event_id"].startswith("evt_")
    [asked] = upstreams.replies
    assert asked["instance_id"] == "ins_1" and asked["company_id"] == COMPANY
    assert asked["text"] == body["text"] and asked["idempotency_key"] == "op-reply-1"
    # The list shows the lead handed off (the mirror of agent-runtime's flag).
    [lead] = (await client.get("/v1/leads", headers=headers)).json()["items"]
    assert lead["handoff"]["active"] is True and lead["handoff"]["reason"] == "operator_reply"


async def test_the_same_key_with_another_text_is_422_naming_the_key(
    publish, client, headers, until, upstreams
):
    await a_conversation(publish, client, headers, until)
    await client.post("/v1/leads/lead_c/messages", json={"text": "Primeira"}, headers=headers | key())
    other = await client.post("/v1/leads/lead_c/messages", json={"text": "Outra"}, headers=headers | key())
    assert other.status_code == 422
    assert other.json()["error"]["problems"][0]["field"] == "Idempotency-Key"
    assert len(upstreams.replies) == 1


async def test_bad_input_is_422_naming_the_field(publish, client, headers, until, upstreams):
    await a_conversation(publish, client, headers, until)
    url = "/v1/leads/lead_c/messages"
    cases = [
        ({"text": "oi"}, headers, "header.Idempotency-Key"),
        ({"text": ""}, headers | key(), "text"),
        ({"text": "x" * 4097}, headers | key(), "text"),
        ({"text": "oi", "to": "+5511"}, headers | key(), "to"),
    ]
    for body, sent_headers, field in cases:
        response = await client.post(url, json=body, headers=sent_headers)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["problems"][0]["field"] == field, response.text
    assert upstreams.replies == []


async def test_scopes_and_companies(publish, client, headers, other_headers, make_key, until, upstreams):
    await a_conversation(publish, client, headers, until)
    url, body = "/v1/leads/lead_c/messages", {"text": "oi"}
    assert (await client.post(url, json=body, headers=key())).status_code == 401
    reader = {"X-API-Key": await make_key(COMPANY, scopes=["leads:read"])}
    assert (await client.post(url, json=body, headers=reader | key())).status_code == 403
    assert (await client.post(url, json=body, headers=other_headers | key())).status_code == 404
    assert (
        await client.post("/v1/leads/lead_nope/messages", json=body, headers=headers | key("k2"))
    ).status_code == 404
    assert upstreams.replies == []


async def test_a_lead_without_a_conversation_yet_is_409(publish, client, headers, until, upstreams):
    await publish(LeadCreated(lead_id="lead_q", company_id=COMPANY, channel="whatsapp"))
    await until(lambda: client.get("/v1/leads/lead_q", headers=headers), lambda r: r.status_code == 200)
    response = await client.post("/v1/leads/lead_q/messages", json={"text": "oi"}, headers=headers | key())
    assert response.status_code == 409 and upstreams.replies == []


async def test_agent_runtime_failing_is_502_and_a_retry_with_the_key_sends(
    publish, client, headers, until, upstreams
):
    await a_conversation(publish, client, headers, until)
    upstreams.fail["agent"] = 3  # every attempt of the first request
    body = {"text": "Olá"}
    failed = await client.post("/v1/leads/lead_c/messages", json=body, headers=headers | key())
    assert failed.status_code == 502
    retried = await client.post("/v1/leads/lead_c/messages", json=body, headers=headers | key())
    assert retried.status_code == 202 and len(upstreams.replies) == 1
