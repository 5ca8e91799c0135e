"""Deals and contracts over HTTP: a deal for a lead, its contract from autentique-service (idempotent on the
deal), the contracts list from the projection, one contract with its signers' progress."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from eventbus import ContractCreated, ContractSigned, Envelope, LeadCreated, LeadQualified

COMPANY, OTHER = "cmp_A", "cmp_B"
SIGNERS = {
    "signers": [
        {"name": "Maria", "email": "maria@example.com", "delivery": "email"},
        {"name": "João", "phone": "+5511999990000", "delivery": "whatsapp"},
    ]
}


async def a_lead(publish, client, headers, until, lead_id="lead_d"):
    event = await publish(LeadCreated(lead_id=lead_id, company_id=COMPANY, channel="whatsapp"))
    await until(lambda: client.get(f"/v1/leads/{lead_id}", headers=headers), lambda r: r.status_code == 200)
    return event


async def a_deal(client, headers, lead_id="lead_d"):
    body = {
        "lead_id": lead_id,
        "value": 15000,
        "currency": "BRL",
        "event": {"type": "casamento", "date": "2026-03-12", "guests": 120, "location": "São Paulo"},
    }
    response = await client.post("/v1/deals", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_deal_is_created_for_a_lead_and_read_back(publish, client, headers, until):
    await a_lead(publish, client, headers, until)
    deal = await a_deal(client, headers)
    assert deal["deal_id"].startswith("deal_") and deal["contract_id"] is None
    assert deal["event"] == {
        "type": "casamento",
        "date": "2026-03-12",
        "guests": 120,
        "location": "São Paulo",
    }
    assert (await client.get(f"/v1/deals/{deal['deal_id']}", headers=headers)).json() == deal


async def test_deal_for_an_unknown_lead_is_404_and_bad_fields_are_422(client, headers):
    response = await client.post("/v1/deals", json={"lead_id": "lead_nope", "value": 1}, headers=headers)
    assert response.status_code == 404
    response = await client.post(
        "/v1/deals", json={"lead_id": "lead_x", "value": -1, "currency": "real"}, headers=headers
    )
    assert response.status_code == 422
    fields = {p["field"] for p in response.json()["error"]["problems"]}
    assert fields == {"value", "currency"}
    response = await client.post(
        "/v1/deals", content=b"{not json", headers=headers | {"content-type": "application/json"}
    )
    assert response.status_code == 422


async def test_contract_is_created_once_per_deal(publish, client, headers, until, upstreams):
    lead = await a_lead(publish, client, headers, until)
    deal = await a_deal(client, headers)
    first = await client.post(f"/v1/deals/{deal['deal_id']}/contract", json=SIGNERS, headers=headers)
    assert first.status_code == 201, first.text
    contract = first.json()
    assert contract["deal_id"] == deal["deal_id"] and contract["progress"] == {"signed": 0, "total": 2}
    again = await client.post(f"/v1/deals/{deal['deal_id']}/contract", json=SIGNERS, headers=headers)
    assert again.status_code == 200 and again.json()["contract_id"] == contract["contract_id"]
    sent = json.loads(upstreams.requests[0].content)
    assert sent == {
        "deal_id": deal["deal_id"],
        "lead_id": "lead_d",
        "company_id": COMPANY,
        "value": 15000.0,
        "currency": "BRL",
        "reissue": False,
        "event": {"type": "casamento", "date": "2026-03-12", "guests": 120, "location": "São Paulo"},
        "signers": SIGNERS["signers"],
        "correlation_id": lead.correlation_id,
        "causation_id": lead.id,
    }
    assert upstreams.requests[0].headers["authorization"] == "Bearer dev-service-token"
    assert (await client.get(f"/v1/deals/{deal['deal_id']}", headers=headers)).json()[
        "contract_id"
    ] == contract["contract_id"]


async def test_contract_request_survives_a_blip_and_reports_an_outage_as_502(
    publish, client, headers, until, upstreams
):
    await a_lead(publish, client, headers, until)
    deal = await a_deal(client, headers)
    upstreams.fail["autentique"] = 1
    assert (
        await client.post(f"/v1/deals/{deal['deal_id']}/contract", json=SIGNERS, headers=headers)
    ).status_code == 201
    other = await a_deal(client, headers)
    upstreams.fail["autentique"] = 10
    response = await client.post(f"/v1/deals/{other['deal_id']}/contract", json=SIGNERS, headers=headers)
    assert response.status_code == 502 and "autentique-service" in response.json()["error"]["message"]


async def test_contract_without_signers_is_422(client, headers):
    response = await client.post("/v1/deals/deal_x/contract", json={"signers": []}, headers=headers)
    assert response.status_code == 422 and response.json()["error"]["problems"][0]["field"] == "signers"


async def test_contracts_list_and_one_contract_with_signer_progress(
    publish, client, headers, until, upstreams
):
    await a_lead(publish, client, headers, until)
    deal = await a_deal(client, headers)
    contract = (
        await client.post(f"/v1/deals/{deal['deal_id']}/contract", json=SIGNERS, headers=headers)
    ).json()
    cid = contract["contract_id"]
    # autentique-service publishes contract.created without lead_id: the deal knows the lead.
    await publish(
        ContractCreated(
            contract_id=cid,
            deal_id=deal["deal_id"],
            company_id=COMPANY,
            value=15000,
            currency="BRL",
            status="sent",
        )
    )
    page = await until(
        lambda: client.get("/v1/contracts", headers=headers), lambda r: len(r.json()["items"]) == 1
    )
    assert page.json()["items"][0]["contract_id"] == cid and page.json()["items"][0]["status"] == "sent"
    lead = (await client.get("/v1/leads/lead_d", headers=headers)).json()
    assert lead["status"] == "contract_sent" and lead["deal_id"] == deal["deal_id"]

    upstreams.sign(cid, 0)
    one = (await client.get(f"/v1/contracts/{cid}", headers=headers)).json()
    assert one["progress"] == {"signed": 1, "total": 2} and one["signers_live"] is True

    await publish(
        ContractSigned(
            contract_id=cid,
            deal_id=deal["deal_id"],
            company_id=COMPANY,
            value=15000,
            currency="BRL",
            signed_at=datetime.now(UTC),
        )
    )
    await until(
        lambda: client.get("/v1/leads/lead_d", headers=headers), lambda r: r.json()["status"] == "won"
    )
    upstreams.fail["autentique"] = 10  # down: progress as last recorded
    one = (await client.get(f"/v1/contracts/{cid}", headers=headers)).json()
    assert one["status"] == "signed" and one["signers_live"] is False and one["progress"]["total"] == 2


async def test_operator_cannot_see_another_companys_deals_or_contracts(
    publish, client, headers, other_headers, until
):
    await a_lead(publish, client, headers, until)
    deal = await a_deal(client, headers)
    cid = (await client.post(f"/v1/deals/{deal['deal_id']}/contract", json=SIGNERS, headers=headers)).json()[
        "contract_id"
    ]
    await publish(
        Envelope.new(
            ContractCreated(
                contract_id=cid, deal_id=deal["deal_id"], company_id=COMPANY, value=1, currency="BRL"
            ),
            source="tests",
            company_id=COMPANY,
        )
    )
    await until(lambda: client.get("/v1/contracts", headers=headers), lambda r: len(r.json()["items"]) == 1)
    assert (await client.get(f"/v1/deals/{deal['deal_id']}", headers=other_headers)).status_code == 404
    response = await client.post(f"/v1/deals/{deal['deal_id']}/contract", json=SIGNERS, headers=other_headers)
    assert response.status_code == 404
    assert (
        await client.post("/v1/deals", json={"lead_id": "lead_d", "value": 1}, headers=other_headers)
    ).status_code == 404
    assert (await client.get(f"/v1/contracts/{cid}", headers=other_headers)).status_code == 404
    assert (await client.get("/v1/contracts", headers=other_headers)).json()["items"] == []


async def test_a_reissue_carries_one_idempotency_key_across_retries_and_a_new_one_once_the_deal_moved_on(
    publish, client, headers, until, upstreams
):
    await a_lead(publish, client, headers, until)
    deal = await a_deal(client, headers)
    path = f"/v1/deals/{deal['deal_id']}/contract"
    first = (await client.post(path, json=SIGNERS, headers=headers)).json()
    reissue = {**SIGNERS, "reissue": True}

    upstreams.fail["autentique"] = 1  # our first try fails after autentique-service may have acted
    again = await client.post(path, json=reissue, headers=headers)
    later = await client.post(path, json=reissue, headers=headers)

    keys = [r.headers["idempotency-key"] for r in upstreams.requests if r.method == "POST"]
    assert again.status_code == 201 and again.json()["contract_id"] != first["contract_id"]
    assert len(keys) == 4 and keys[1] == keys[2], "our retry carries the key of the request it repeats"
    # Once the deal recorded the new contract, a re-issue supersedes that one: another request, another key.
    assert len({keys[0], keys[1], keys[3]}) == 3
    assert later.status_code == 201 and later.json()["contract_id"] != again.json()["contract_id"]


async def test_the_operators_idempotency_key_answers_the_first_contract_and_refuses_another_body(
    publish, client, headers, until, upstreams
):
    await a_lead(publish, client, headers, until)
    deal = await a_deal(client, headers)
    path = f"/v1/deals/{deal['deal_id']}/contract"
    await client.post(path, json=SIGNERS, headers=headers)
    keyed = headers | {"Idempotency-Key": "op-7f3a"}

    first = await client.post(path, json={**SIGNERS, "reissue": True}, headers=keyed)
    again = await client.post(path, json={**SIGNERS, "reissue": True}, headers=keyed)
    other = await client.post(path, json={"signers": SIGNERS["signers"][:1], "reissue": True}, headers=keyed)

    assert first.status_code == again.status_code == 201
    assert again.json()["contract_id"] == first.json()["contract_id"]
    assert other.status_code == 422
    assert other.json()["error"]["problems"][0]["field"] == "Idempotency-Key"


async def test_the_deal_keeps_the_leads_thread_and_the_contract_names_its_latest_event_as_cause(
    publish, client, headers, until, upstreams
):
    lead = await a_lead(publish, client, headers, until)
    deal = await a_deal(client, headers)
    assert deal["correlation_id"] == lead.correlation_id
    qualified = await publish(
        LeadQualified(lead_id="lead_d", company_id=COMPANY, score=0.9, criteria=["date"], summary="ok"),
        correlation_id=lead.correlation_id,
        causation_id=lead.id,
    )
    await until(
        lambda: client.get("/v1/leads/lead_d", headers=headers),
        lambda r: r.json()["qualified_at"] is not None,
    )

    await client.post(f"/v1/deals/{deal['deal_id']}/contract", json=SIGNERS, headers=headers)

    sent = json.loads(upstreams.requests[-1].content)
    assert (sent["correlation_id"], sent["causation_id"]) == (lead.correlation_id, qualified.id)
    assert (await client.get("/v1/leads/lead_d", headers=headers)).json()[
        "correlation_id"
    ] == lead.correlation_id


async def test_creating_a_contract_needs_the_contracts_write_scope(
    publish, client, headers, make_key, until, upstreams
):
    await a_lead(publish, client, headers, until)
    deal = await a_deal(client, headers)
    deals_only = {"X-API-Key": await make_key(scopes={"deals:read", "deals:write", "contracts:read"})}
    refused = await client.post(f"/v1/deals/{deal['deal_id']}/contract", json=SIGNERS, headers=deals_only)
    assert refused.status_code == 403 and "contracts:write" in refused.json()["error"]["message"]
    assert not [r for r in upstreams.requests if r.url.path == "/v1/contracts"]
    writer = {"X-API-Key": await make_key(scopes={"contracts:write"})}
    created = await client.post(f"/v1/deals/{deal['deal_id']}/contract", json=SIGNERS, headers=writer)
    assert created.status_code == 201, created.text


async def test_a_signers_signing_link_is_not_stored_in_backoffice(
    publish, client, headers, until, upstreams, redis, keyspace
):
    await a_lead(publish, client, headers, until)
    deal = await a_deal(client, headers)
    signers = {"signers": [{"name": "Ana", "phone": "+5511999990001", "delivery": "link"}]}
    response = await client.post(f"/v1/deals/{deal['deal_id']}/contract", json=signers, headers=headers)
    assert response.status_code == 201, response.text
    link = upstreams.contracts[deal["deal_id"]]["signers"][0]["link"]
    assert link and link not in response.text
    stored = []
    async for key in redis.scan_iter(match=keyspace.keys.service("backoffice-api", "*"), count=1000):
        kind = await redis.type(key)
        value = await (
            redis.hgetall(key) if kind == "hash" else redis.get(key) if kind == "string" else redis.type(key)
        )
        stored.append(json.dumps(value, default=str))
    assert stored and not any(link in value for value in stored)
    contract_id = response.json()["contract_id"]
    upstreams.fail["autentique"] = 10  # the answer from what backoffice stored: the signer, not the link
    one = await client.get(f"/v1/contracts/{contract_id}", headers=headers)
    assert one.json()["signers"][0]["name"] == "Ana" and link not in one.text
