"""Leads over HTTP: lists from the indexes with filters and cursors, one lead with its timeline, handoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from eventbus import Envelope, LeadCreated, LeadQualified, MessageReceived, MessageSent, OutgoingMessage, Utm

COMPANY, OTHER = "cmp_A", "cmp_B"
T0 = datetime(2026, 1, 5, 12, tzinfo=UTC)


def created(
    lead_id: str, *, at: datetime, source: str = "ads", company: str = COMPANY, phone: str | None = None
):
    payload = LeadCreated(
        lead_id=lead_id,
        company_id=company,
        channel="whatsapp",
        source=source,
        utm=Utm(source="facebook", campaign="xmas"),
        lead_external_id=f"wa:{phone}" if phone else None,
    )
    return Envelope.new(payload, source="agent-runtime", company_id=company, occurred_at=at)


def qualified(lead_id: str, *, at: datetime, company: str = COMPANY, score: float = 0.9):
    payload = LeadQualified(
        lead_id=lead_id, company_id=company, score=score, criteria=["date"], summary="120 guests"
    )
    return Envelope.new(payload, source="agent-runtime", company_id=company, occurred_at=at)


async def seed(publish, client, headers, until, n: int = 5):
    for i in range(n):
        await publish(
            created(f"lead_{i}", at=T0 + timedelta(minutes=i), source="ads" if i % 2 else "organic")
        )
    if n > 3:
        await publish(qualified("lead_3", at=T0 + timedelta(hours=1)))
        await until(
            lambda: client.get("/v1/leads", headers=headers, params={"status": "qualified"}),
            lambda r: len(r.json()["items"]) == 1,
        )
    await until(lambda: client.get("/v1/leads", headers=headers), lambda r: len(r.json()["items"]) == n)


async def test_leads_are_listed_newest_first_with_their_projection(publish, client, headers, until):
    await seed(publish, client, headers, until)
    page = (await client.get("/v1/leads", headers=headers)).json()
    assert [lead["lead_id"] for lead in page["items"]] == ["lead_4", "lead_3", "lead_2", "lead_1", "lead_0"]
    lead3 = page["items"][1]
    assert lead3["status"] == "qualified" and lead3["score"] == 0.9 and lead3["summary"] == "120 guests"
    assert lead3["utm"] == {"campaign": "xmas", "source": "facebook"} and lead3["handoff"] == {
        "active": False,
        "reason": None,
        "updated_at": None,
    }
    assert page["next_cursor"] is None


async def test_filters_combine_status_source_and_creation_range(publish, client, headers, until):
    await seed(publish, client, headers, until)

    async def ids(**params):
        response = await client.get("/v1/leads", headers=headers, params=params)
        assert response.status_code == 200, response.text
        return [lead["lead_id"] for lead in response.json()["items"]]

    assert await ids(source="ads") == ["lead_3", "lead_1"]
    assert await ids(status="new", source="ads") == ["lead_1"]
    assert await ids(status="qualified", source="organic") == []
    window = {
        "created_from": (T0 + timedelta(minutes=1)).isoformat(),
        "created_to": (T0 + timedelta(minutes=3)).isoformat(),
    }
    assert await ids(**window) == ["lead_2", "lead_1"]


async def test_cursor_pages_through_every_lead_once(publish, client, headers, until):
    await seed(publish, client, headers, until)
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/leads", headers=headers, params=params)).json()
        seen += [lead["lead_id"] for lead in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["lead_4", "lead_3", "lead_2", "lead_1", "lead_0"]


async def test_bad_list_parameters_get_422_naming_the_field(client, headers):
    cases = {
        "cursor": {"cursor": "not-a-cursor"},
        "limit": {"limit": 0},
        "status": {"status": "lost"},
        "created_from": {"created_from": "2026-02-01T00:00:00Z", "created_to": "2026-01-01T00:00:00Z"},
    }
    for field, params in cases.items():
        response = await client.get("/v1/leads", headers=headers, params=params)
        assert response.status_code == 422, (field, response.text)
        assert field in [p["field"].split(".")[-1] for p in response.json()["error"]["problems"]]


async def test_one_lead_has_its_timeline_with_the_contacts_messages(publish, client, headers, until):
    phone = "+5511988887777"
    message = MessageReceived.model_validate(
        {
            "instance_id": "ins_1",
            "lead_external_id": f"wa:{phone}",
            "from": phone,
            "body": "Oi, quero orçamento",
        }
    )
    # The first message arrives before the lead exists: the timeline still finds it.
    await publish(Envelope.new(message, source="evolution-manager", company_id=COMPANY, occurred_at=T0))
    await publish(created("lead_m", at=T0 + timedelta(seconds=1), phone=phone))
    reply = MessageSent(instance_id="ins_1", to=phone, messages=[OutgoingMessage(text="Olá! Para quando?")])
    await publish(
        Envelope.new(reply, source="agent-runtime", company_id=COMPANY, occurred_at=T0 + timedelta(seconds=2))
    )
    response = await until(
        lambda: client.get("/v1/leads/lead_m", headers=headers),
        lambda r: len(r.json().get("timeline", [])) == 3,
    )
    timeline = response.json()["timeline"]
    assert [e["type"] for e in timeline] == ["message.sent", "lead.created", "message.received"]
    assert timeline[0]["details"]["texts"] == ["Olá! Para quando?"]
    assert timeline[2]["details"] == {
        "author": "lead",
        "direction": "in",
        "instance_id": "ins_1",
        "text": "Oi, quero orçamento",
    }
    assert timeline[0]["details"]["author"] == "agent"


async def test_a_lead_known_only_by_its_privacy_lid_is_listed_with_its_messages_and_answers(
    publish, client, headers, until
):
    # No phone anywhere (Evolution 2.2.3+): the message has no `from`, the lead is `wa:lid:<digits>` and the
    # answer goes to the LID's JID; an operator sees all three on the lead.
    message = MessageReceived.model_validate(
        {"instance_id": "ins_1", "lead_external_id": "wa:lid:66417458159826", "body": "Oi"}
    )
    await publish(Envelope.new(message, source="evolution-manager", company_id=COMPANY, occurred_at=T0))
    lead = LeadCreated(
        lead_id="lead_lid", company_id=COMPANY, channel="whatsapp", lead_external_id="wa:lid:66417458159826"
    )
    await publish(
        Envelope.new(lead, source="agent-runtime", company_id=COMPANY, occurred_at=T0 + timedelta(seconds=1))
    )
    reply = MessageSent(instance_id="ins_1", to="66417458159826@lid", messages=[OutgoingMessage(text="Olá!")])
    await publish(
        Envelope.new(reply, source="agent-runtime", company_id=COMPANY, occurred_at=T0 + timedelta(seconds=2))
    )
    response = await until(
        lambda: client.get("/v1/leads/lead_lid", headers=headers),
        lambda r: len(r.json().get("timeline", [])) == 3,
    )
    assert [e["type"] for e in response.json()["timeline"]] == [
        "message.sent",
        "lead.created",
        "message.received",
    ]
    listed = (await client.get("/v1/leads", headers=headers)).json()["items"]
    assert "lead_lid" in [item["lead_id"] for item in listed]


async def test_unknown_lead_is_404_and_a_malformed_id_is_422(client, headers):
    assert (await client.get("/v1/leads/lead_nope", headers=headers)).status_code == 404
    response = await client.get("/v1/leads/nope", headers=headers)
    assert response.status_code == 422 and response.json()["error"]["problems"][0]["field"] == "path.lead_id"


async def test_operator_cannot_read_another_companys_leads(publish, client, headers, other_headers, until):
    await seed(publish, client, headers, until, n=2)
    assert (await client.get("/v1/leads", headers=other_headers)).json()["items"] == []
    assert (await client.get("/v1/leads/lead_0", headers=other_headers)).status_code == 404
    assert (await client.put("/v1/leads/lead_0/handoff", json={}, headers=other_headers)).status_code == 404


async def test_handoff_is_set_and_cleared_through_agent_runtime_and_mirrored(
    publish, client, headers, until, upstreams
):
    await seed(publish, client, headers, until, n=1)
    response = await client.put(
        "/v1/leads/lead_0/handoff", json={"reason": "asked for a human"}, headers=headers
    )
    assert response.status_code == 200 and response.json()["active"] is True
    assert upstreams.handoffs["lead_0"]["reason"] == "asked for a human"
    sent = upstreams.requests[-1]
    assert sent.method == "PUT" and sent.url.path == "/v1/leads/lead_0/handoff"
    lead = (await client.get("/v1/leads/lead_0", headers=headers)).json()
    assert lead["handoff"]["active"] is True and lead["handoff"]["reason"] == "asked for a human"
    assert (await client.get("/v1/leads/lead_0/handoff", headers=headers)).json()["active"] is True

    assert (await client.delete("/v1/leads/lead_0/handoff", headers=headers)).json()["active"] is False
    assert "lead_0" not in upstreams.handoffs
    assert (await client.get("/v1/leads/lead_0", headers=headers)).json()["handoff"]["active"] is False


async def test_handoff_answers_502_while_agent_runtime_is_down_and_keeps_the_mirror(
    publish, client, headers, until, upstreams
):
    await seed(publish, client, headers, until, n=1)
    upstreams.fail["agent"] = 10
    response = await client.put("/v1/leads/lead_0/handoff", json={}, headers=headers)
    assert response.status_code == 502 and response.json()["error"]["code"] == "upstream_unavailable"
    assert (await client.get("/v1/leads/lead_0", headers=headers)).json()["handoff"]["active"] is False


async def test_leads_carry_their_contacts_last_message_either_way(publish, client, headers, until):
    phone = "+5511977776666"
    await publish(created("lead_quiet", at=T0, phone="+5511955554444"))
    await publish(created("lead_talk", at=T0 + timedelta(seconds=1), phone=phone))
    message = MessageReceived.model_validate(
        {
            "instance_id": "ins_1",
            "lead_external_id": f"wa:{phone}",
            "from": phone,
            "body": "Tem vaga em maio?",
        }
    )
    await publish(
        Envelope.new(
            message, source="evolution-manager", company_id=COMPANY, occurred_at=T0 + timedelta(seconds=2)
        )
    )
    page = await until(
        lambda: client.get("/v1/leads", headers=headers),
        lambda r: len(r.json()["items"]) == 2 and any(i["last_message"] for i in r.json()["items"]),
    )
    talk, quiet = page.json()["items"]
    assert talk["last_message"] == {
        "direction": "in",
        "text": "Tem vaga em maio?",
        "at": "2026-01-05T12:00:02.000Z",
    }
    assert quiet["last_message"] is None
    reply = MessageSent(instance_id="ins_1", to=phone[1:], messages=[OutgoingMessage(text="Temos sim!")])
    await publish(
        Envelope.new(reply, source="agent-runtime", company_id=COMPANY, occurred_at=T0 + timedelta(seconds=3))
    )
    detail = await until(
        lambda: client.get("/v1/leads/lead_talk", headers=headers),
        lambda r: (r.json()["last_message"] or {}).get("direction") == "out",
    )
    assert detail.json()["last_message"]["text"] == "Temos sim!"
