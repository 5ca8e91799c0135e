"""The deal pipeline over HTTP and real Redis: listing with filters and cursors, stages and their rule, the
history (who, when), value and owner edits, ETag / If-Match (412 on a stale write, atomic under a race), the
contract's events moving the deal (signed → won, once under replay), scopes and tenant isolation."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from backoffice_api import handlers
from eventbus import ContractCreated, ContractSigned, Envelope, LeadCreated

COMPANY, OTHER = "cmp_A", "cmp_B"


async def a_lead(publish, client, headers, until, lead_id="lead_p"):
    await publish(LeadCreated(lead_id=lead_id, company_id=COMPANY, channel="whatsapp"))
    await until(lambda: client.get(f"/v1/leads/{lead_id}", headers=headers), lambda r: r.status_code == 200)


async def a_deal(client, headers, lead_id="lead_p", value=1000.0, **extra):
    body = {"lead_id": lead_id, "value": value, "currency": "BRL", **extra}
    response = await client.post("/v1/deals", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def move(client, headers, deal_id, stage, **extra):
    body = {"stage": stage, **({"reason": extra.pop("reason")} if "reason" in extra else {})}
    return await client.put(f"/v1/deals/{deal_id}/stage", json=body, headers=headers | extra)


async def every_page(client, headers, query, limit=3):
    """Follow next_cursor to the end; returns the deal ids in order and how many pages it took."""
    ids, cursor, pages = [], None, 0
    while True:
        params = {**query, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/v1/deals", params=params, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        ids += [d["deal_id"] for d in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return ids, pages


@pytest.fixture
async def named_key(make_key):
    return {"X-API-Key": await make_key(COMPANY, name="Ana (vendas)")}


async def test_deals_are_listed_newest_first_by_stage_owner_lead_value_and_time(
    publish, client, headers, until
):
    await a_lead(publish, client, headers, until, "lead_p")
    await a_lead(publish, client, headers, until, "lead_q")
    made = []
    for n in range(8):
        owner = ("ana", "bia")[n % 2]
        lead = ("lead_p", "lead_q")[n % 2]
        made.append(await a_deal(client, headers, lead_id=lead, value=1000.0 * (n + 1), owner=owner))
    for deal in made[:3]:
        assert (await move(client, headers, deal["deal_id"], "qualified")).status_code == 200
    newest_first = [d["deal_id"] for d in reversed(made)]

    ids, pages = await every_page(client, headers, {})
    assert ids == newest_first and pages == 3
    ids, _ = await every_page(client, headers, {"stage": "qualified"})
    assert ids == newest_first[-3:]
    ids, _ = await every_page(client, headers, {"owner": "ana"})
    assert ids == newest_first[1::2]
    ids, _ = await every_page(client, headers, {"owner": "ana", "stage": "qualified"})
    assert ids == [made[2]["deal_id"], made[0]["deal_id"]]
    ids, _ = await every_page(client, headers, {"lead_id": "lead_q", "stage": "new"})
    assert ids == [made[7]["deal_id"], made[5]["deal_id"], made[3]["deal_id"]]
    ids, _ = await every_page(client, headers, {"value_min": 2500, "value_max": 6000})
    assert ids == [made[n]["deal_id"] for n in (5, 4, 3, 2)]
    created = datetime.fromisoformat(made[4]["created_at"])
    ids, _ = await every_page(client, headers, {"created_from": created.isoformat()})
    assert ids == newest_first[:4]
    updated = await client.get(f"/v1/deals/{made[2]['deal_id']}", headers=headers)
    since = datetime.fromisoformat(updated.json()["updated_at"])
    ids, _ = await every_page(client, headers, {"updated_from": since.isoformat()})
    assert made[2]["deal_id"] in ids and made[0]["deal_id"] not in ids


async def test_a_filtered_page_stops_after_its_budget_and_hands_back_a_cursor(
    publish, client, headers, until, monkeypatch
):
    from backoffice_api import deals

    monkeypatch.setattr(deals, "SCAN_BUDGET", 4)
    await a_lead(publish, client, headers, until)
    made = [await a_deal(client, headers, value=float(n)) for n in range(10)]
    response = await client.get("/v1/deals", params={"value_min": 0, "limit": 50}, headers=headers)
    body = response.json()
    assert len(body["items"]) == 4 and body["next_cursor"] is not None
    ids, pages = await every_page(client, headers, {"value_max": 0}, limit=50)
    assert ids == [made[0]["deal_id"]] and pages == 3


async def test_the_pipeline_rule_is_enforced_and_named(publish, client, headers, until):
    await a_lead(publish, client, headers, until)
    deal = (await a_deal(client, headers))["deal_id"]
    refused = await move(client, headers, deal, "won")
    assert refused.status_code == 409
    message = refused.json()["error"]["message"]
    assert "'new' cannot move to 'won'" in message and "qualified, lost" in message
    assert "new → qualified → proposal → contract_sent → won | lost" in message
    for stage in ("qualified", "proposal", "contract_sent", "won"):
        response = await move(client, headers, deal, stage)
        assert response.status_code == 200 and response.json()["stage"] == stage
    assert (await move(client, headers, deal, "won")).status_code == 200  # a retry changes nothing
    final = await move(client, headers, deal, "lost", reason="changed their mind")
    assert final.status_code == 409 and "final" in final.json()["error"]["message"]
    backwards = (await a_deal(client, headers))["deal_id"]
    await move(client, headers, backwards, "qualified")
    assert (await move(client, headers, backwards, "new")).status_code == 409


async def test_lost_needs_a_reason_and_keeps_it(publish, client, headers, until):
    await a_lead(publish, client, headers, until)
    deal = (await a_deal(client, headers))["deal_id"]
    for body in ({"stage": "lost"}, {"stage": "lost", "reason": "   "}):
        response = await client.put(f"/v1/deals/{deal}/stage", json=body, headers=headers)
        assert response.status_code == 422
        assert response.json()["error"]["problems"][0]["field"] == "reason"
    lost = await move(client, headers, deal, "lost", reason="chose another venue")
    assert lost.status_code == 200
    assert lost.json()["stage"] == "lost" and lost.json()["lost_reason"] == "chose another venue"
    listed = await client.get("/v1/deals", params={"stage": "lost"}, headers=headers)
    assert [d["deal_id"] for d in listed.json()["items"]] == [deal]


async def test_history_says_who_moved_the_deal_and_when(publish, client, named_key, until):
    await a_lead(publish, client, named_key, until)
    before = datetime.now(UTC) - timedelta(seconds=1)
    deal = await a_deal(client, named_key)
    await move(client, named_key, deal["deal_id"], "qualified")
    history = (await client.get(f"/v1/deals/{deal['deal_id']}", headers=named_key)).json()["history"]
    assert [(h["previous"], h["stage"]) for h in history] == [(None, "new"), ("new", "qualified")]
    for entry in history:
        assert entry["by"]["kind"] == "api_key" and entry["by"]["name"] == "Ana (vendas)"
        assert entry["by"]["id"].startswith("key_")
        assert datetime.fromisoformat(entry["at"]) >= before


async def test_value_owner_and_event_are_editable(publish, client, headers, until):
    await a_lead(publish, client, headers, until)
    deal = (await a_deal(client, headers, owner="ana"))["deal_id"]
    response = await client.patch(
        f"/v1/deals/{deal}", json={"value": 18000, "owner": "bia", "event": {"guests": 90}}, headers=headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["value"], body["owner"], body["version"]) == (18000.0, "bia", 2)
    assert body["event"] == {"type": None, "date": None, "guests": 90, "location": None}  # replaced whole
    assert [
        d["deal_id"] for d in (await client.get("/v1/deals?owner=bia", headers=headers)).json()["items"]
    ] == [deal]
    assert (await client.get("/v1/deals?owner=ana", headers=headers)).json()["items"] == []
    unassigned = await client.patch(f"/v1/deals/{deal}", json={"owner": None}, headers=headers)
    assert unassigned.json()["owner"] is None
    assert (await client.get("/v1/deals?owner=bia", headers=headers)).json()["items"] == []


async def test_a_stale_if_match_is_refused_with_412(publish, client, headers, until):
    await a_lead(publish, client, headers, until)
    deal = (await a_deal(client, headers))["deal_id"]
    read = await client.get(f"/v1/deals/{deal}", headers=headers)
    tag = read.headers["etag"]
    assert tag == '"v1"'
    first = await client.patch(f"/v1/deals/{deal}", json={"value": 2}, headers=headers | {"If-Match": tag})
    assert first.status_code == 200 and first.headers["etag"] == '"v2"'
    stale = await client.patch(f"/v1/deals/{deal}", json={"value": 3}, headers=headers | {"If-Match": tag})
    assert stale.status_code == 412 and stale.json()["error"]["code"] == "precondition_failed"
    stale_move = await move(client, headers, deal, "qualified", **{"If-Match": tag})
    assert stale_move.status_code == 412
    assert (await client.get(f"/v1/deals/{deal}", headers=headers)).json()["value"] == 2.0
    fresh = await move(client, headers, deal, "qualified", **{"If-Match": '"v0", "v2"'})
    assert fresh.status_code == 200 and fresh.headers["etag"] == '"v3"'


async def test_racing_writes_with_the_same_if_match_let_exactly_one_through(publish, client, headers, until):
    await a_lead(publish, client, headers, until)
    deal = (await a_deal(client, headers))["deal_id"]
    answers = await asyncio.gather(
        *(
            client.patch(f"/v1/deals/{deal}", json={"value": n}, headers=headers | {"If-Match": '"v1"'})
            for n in range(10, 20)
        )
    )
    assert sorted(r.status_code for r in answers) == [200] + [412] * 9
    [winner] = [r.json() for r in answers if r.status_code == 200]
    assert (await client.get(f"/v1/deals/{deal}", headers=headers)).json()["value"] == winner["value"]


async def test_racing_writes_without_if_match_all_apply(publish, client, headers, until):
    await a_lead(publish, client, headers, until)
    deal = (await a_deal(client, headers))["deal_id"]
    answers = await asyncio.gather(
        client.patch(f"/v1/deals/{deal}", json={"owner": "ana"}, headers=headers),
        client.patch(f"/v1/deals/{deal}", json={"value": 5}, headers=headers),
        move(client, headers, deal, "qualified"),
    )
    assert [r.status_code for r in answers] == [200, 200, 200]
    final = (await client.get(f"/v1/deals/{deal}", headers=headers)).json()
    assert (final["owner"], final["value"], final["stage"], final["version"]) == ("ana", 5.0, "qualified", 4)
    listed = await client.get("/v1/deals", params={"owner": "ana", "stage": "qualified"}, headers=headers)
    assert [d["deal_id"] for d in listed.json()["items"]] == [deal]


async def test_contract_signed_wins_the_deal_once_whatever_is_replayed(publish, client, headers, until, app):
    await a_lead(publish, client, headers, until)
    deal = (await a_deal(client, headers))["deal_id"]
    ports = app.state.ports
    created = Envelope.new(
        ContractCreated(contract_id="ctr_p", deal_id=deal, company_id=COMPANY, value=1000.0, currency="BRL"),
        source="autentique-service",
        company_id=COMPANY,
    )
    signed = Envelope.new(
        ContractSigned(
            contract_id="ctr_p",
            deal_id=deal,
            company_id=COMPANY,
            value=1000.0,
            currency="BRL",
            signed_at=datetime.now(UTC),
        ),
        source="autentique-service",
        company_id=COMPANY,
    )
    await publish(created)
    await publish(signed)
    won = await until(
        lambda: client.get(f"/v1/deals/{deal}", headers=headers), lambda r: r.json()["stage"] == "won"
    )
    history = won.json()["history"]
    # The two channels are consumed independently: contract_sent is entered only if contract.created came first.
    assert [h["stage"] for h in history] in (["new", "contract_sent", "won"], ["new", "won"])
    assert history[-1]["by"] == {"kind": "event", "id": signed.id, "name": "contract.signed"}
    # Replays: the handlers again (as after a lost processed set or a rebuild), in both orders.
    reactions = handlers.reactions(ports.models, ports.deals)
    for event in (signed, created, signed):
        await reactions[event.type](event)
    again = (await client.get(f"/v1/deals/{deal}", headers=headers)).json()
    assert again["history"] == history and again["version"] == won.json()["version"]
    listed = await client.get("/v1/deals", params={"stage": "won"}, headers=headers)
    assert [d["deal_id"] for d in listed.json()["items"]] == [deal]


async def test_a_signature_after_the_deal_was_lost_wins_it(publish, client, headers, until):
    await a_lead(publish, client, headers, until)
    deal = (await a_deal(client, headers))["deal_id"]
    await move(client, headers, deal, "lost", reason="no answer")
    await publish(
        ContractSigned(
            contract_id="ctr_l",
            deal_id=deal,
            company_id=COMPANY,
            value=1.0,
            currency="BRL",
            signed_at=datetime.now(UTC),
        )
    )
    won = await until(
        lambda: client.get(f"/v1/deals/{deal}", headers=headers), lambda r: r.json()["stage"] == "won"
    )
    assert won.json()["lost_reason"] is None


async def test_deal_routes_need_a_key_and_their_scope(publish, client, headers, until, make_key):
    await a_lead(publish, client, headers, until)
    deal = (await a_deal(client, headers))["deal_id"]
    calls = [
        ("GET", "/v1/deals", None),
        ("PATCH", f"/v1/deals/{deal}", {"value": 1}),
        ("PUT", f"/v1/deals/{deal}/stage", {"stage": "qualified"}),
    ]
    reader = {"X-API-Key": await make_key(COMPANY, scopes={"deals:read"})}
    nothing = {"X-API-Key": await make_key(COMPANY, scopes={"leads:read"})}
    for method, path, body in calls:
        assert (await client.request(method, path, json=body)).status_code == 401
        assert (await client.request(method, path, json=body, headers=nothing)).status_code == 403
        expected = 200 if method == "GET" else 403
        assert (await client.request(method, path, json=body, headers=reader)).status_code == expected


async def test_another_companys_deal_is_404_and_never_listed(publish, client, headers, other_headers, until):
    await a_lead(publish, client, headers, until)
    deal = (await a_deal(client, headers))["deal_id"]
    assert (await client.get(f"/v1/deals/{deal}", headers=other_headers)).status_code == 404
    patched = await client.patch(f"/v1/deals/{deal}", json={"value": 1}, headers=other_headers)
    assert patched.status_code == 404
    assert (await move(client, other_headers, deal, "qualified")).status_code == 404
    assert (await client.get("/v1/deals", headers=other_headers)).json() == {"items": [], "next_cursor": None}
    assert (await client.get(f"/v1/deals/{deal}", headers=headers)).json()["version"] == 1


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("GET", "/v1/deals?value_min=5&value_max=1", None, "value_min"),
        (
            "GET",
            "/v1/deals?updated_from=2026-02-01T00:00:00Z&updated_to=2026-01-01T00:00:00Z",
            None,
            "updated_from",
        ),
        ("GET", "/v1/deals?owner=a*b", None, "query.owner"),
        ("GET", "/v1/deals?stage=closed", None, "query.stage"),
        ("GET", "/v1/deals?cursor=forged", None, "cursor"),
        ("PATCH", "/v1/deals/{deal}", {"value": None}, "value"),
        ("PATCH", "/v1/deals/{deal}", {"owner": "x:y"}, "owner"),
        ("PATCH", "/v1/deals/{deal}", {}, "body"),
        ("PATCH", "/v1/deals/{deal}", {"stage": "won"}, "stage"),
        ("PUT", "/v1/deals/{deal}/stage", {"stage": "closed"}, "stage"),
        ("POST", "/v1/deals", {"lead_id": "lead_p", "value": 1, "owner": "*"}, "owner"),
    ],
)
async def test_bad_input_is_422_naming_the_field(publish, client, headers, until, method, path, body, field):
    await a_lead(publish, client, headers, until)
    deal = (await a_deal(client, headers))["deal_id"]
    response = await client.request(method, path.format(deal=deal), json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert field in {p["field"] for p in response.json()["error"]["problems"]}


async def test_a_repeated_idempotency_key_answers_the_deal_it_made(
    publish, client, headers, other_headers, until
):
    await a_lead(publish, client, headers, until)
    body = {"lead_id": "lead_p", "value": 10, "owner": "ana"}
    key = {"Idempotency-Key": "retry-me"}
    first = await client.post("/v1/deals", json=body, headers=headers | key)
    again = await client.post("/v1/deals", json=body, headers=headers | key)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    await client.patch(f"/v1/deals/{first.json()['deal_id']}", json={"value": 11}, headers=headers)
    later = await client.post("/v1/deals", json=body, headers=headers | key)  # the deal changed meanwhile
    assert later.status_code == 200 and later.json()["value"] == 11.0
    assert len((await client.get("/v1/deals", headers=headers)).json()["items"]) == 1
    other = await client.post("/v1/deals", json=body | {"value": 99}, headers=headers | key)
    assert other.status_code == 422 and other.json()["error"]["problems"][0]["field"] == "Idempotency-Key"
    assert "request_fingerprint" not in first.json()
    listed = (await client.get("/v1/deals", headers=headers)).json()["items"]
    assert "request_fingerprint" not in listed[0] and "indexed" not in listed[0]


async def test_a_contract_made_moves_an_earlier_stage_to_contract_sent_once(
    publish, client, headers, until, app
):
    await a_lead(publish, client, headers, until)
    early = (await a_deal(client, headers))["deal_id"]
    lost = (await a_deal(client, headers))["deal_id"]
    await move(client, headers, lost, "lost", reason="no budget")
    ports = app.state.ports
    reactions = handlers.reactions(ports.models, ports.deals)
    for deal, contract in ((early, "ctr_e"), (lost, "ctr_x")):
        created = Envelope.new(
            ContractCreated(
                contract_id=contract, deal_id=deal, company_id=COMPANY, value=1.0, currency="BRL"
            ),
            source="autentique-service",
            company_id=COMPANY,
        )
        for _ in range(2):  # delivered twice
            await reactions["contract.created"](created)
    moved = (await client.get(f"/v1/deals/{early}", headers=headers)).json()
    assert [h["stage"] for h in moved["history"]] == ["new", "contract_sent"]
    assert moved["history"][-1]["by"]["name"] == "contract.created"
    assert (await client.get(f"/v1/deals/{lost}", headers=headers)).json()["stage"] == "lost"
