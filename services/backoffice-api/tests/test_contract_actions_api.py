"""An operator's follow-ups on a contract through backoffice-api: cancel, remind, the signed PDF's link; and
the contracts list agreeing with one contract's detail. autentique-service is the conftest stand-in, extended
here with the three follow-up routes as autentique-service answers them (followups_api.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from eventbus import ContractCreated, ContractSigned, LeadCreated

COMPANY = "cmp_A"
SIGNERS = {
    "signers": [
        {"name": "Maria", "email": "maria@example.com", "delivery": "email"},
        {"name": "João", "phone": "+5511999990000", "delivery": "whatsapp"},
    ]
}


class FollowUps:
    """autentique-service's follow-up routes over the conftest stand-in's contracts."""

    def __init__(self, upstreams: Any) -> None:
        self.upstreams = upstreams
        self.base = upstreams._autentique
        self.cancels: list[str] = []  # contract ids autentique-service cancelled at Autentique
        self.reminders: dict[str, str] = {}  # Idempotency-Key → contract id: one Autentique resend each

    def handle(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path.split("/")
        if len(parts) != 5 or parts[4] not in ("cancel", "reminders", "signed-file"):
            return self.base(request)
        contracts = self.upstreams.contracts.values()
        contract = next((c for c in contracts if c["contract_id"] == parts[3]), None)
        if contract is None:
            return httpx.Response(404, json={"error": {"code": "not_found", "message": "no contract"}})
        signed = all(s["status"] == "signed" for s in contract["signers"])
        if parts[4] == "signed-file":
            if not signed:
                return httpx.Response(409, json={"error": {"code": "conflict", "message": "not signed"}})
            url = f"https://api.autentique.com.br/documentos/{contract['document_id']}/assinado.pdf"
            return httpx.Response(200, json={"contract_id": parts[3], "url": url})
        if signed or (parts[4] == "reminders" and contract["status"] == "cancelled"):
            return httpx.Response(409, json={"error": {"code": "conflict", "message": "not open"}})
        if parts[4] == "cancel":
            if contract["status"] != "cancelled":
                self.cancels.append(parts[3])
                contract["status"] = "cancelled"
            return httpx.Response(200, json=contract)
        key = request.headers["idempotency-key"]
        if key not in self.reminders and parts[3] in self.reminders.values():
            error = {"code": "resent_recently", "message": "reminded recently"}
            return httpx.Response(429, json={"error": error})
        self.reminders.setdefault(key, parts[3])
        pending = sum(1 for s in contract["signers"] if s["status"] != "signed")
        return httpx.Response(200, json={"contract_id": parts[3], "signers": pending})


@pytest.fixture
def upstreams(upstreams: Any) -> Any:
    follow_ups = FollowUps(upstreams)
    upstreams._autentique = follow_ups.handle
    upstreams.cancels = follow_ups.cancels
    upstreams.reminders = follow_ups.reminders
    return upstreams


@pytest.fixture
async def contract(publish, client, headers, until) -> dict:
    await publish(LeadCreated(lead_id="lead_f", company_id=COMPANY, channel="whatsapp"))
    await until(lambda: client.get("/v1/leads/lead_f", headers=headers), lambda r: r.status_code == 200)
    deal = await client.post("/v1/deals", json={"lead_id": "lead_f", "value": 15000}, headers=headers)
    made = await client.post(f"/v1/deals/{deal.json()['deal_id']}/contract", json=SIGNERS, headers=headers)
    body = made.json()
    await publish(
        ContractCreated(
            contract_id=body["contract_id"],
            deal_id=body["deal_id"],
            company_id=COMPANY,
            value=15000,
            currency="BRL",
            status="sent",
        )
    )
    await until(lambda: client.get("/v1/contracts", headers=headers), lambda r: len(r.json()["items"]) == 1)
    return body


async def test_list_and_detail_agree_on_a_signed_contracts_signers(
    publish, client, headers, until, upstreams, contract
):
    cid = contract["contract_id"]
    upstreams.sign(cid, 0)
    upstreams.sign(cid, 1)
    await publish(
        ContractSigned(
            contract_id=cid,
            deal_id=contract["deal_id"],
            company_id=COMPANY,
            value=15000,
            currency="BRL",
            signed_at=datetime.now(UTC),
        )
    )
    listed = await until(
        lambda: client.get("/v1/contracts", headers=headers),
        lambda r: r.json()["items"][0]["status"] == "signed",
    )
    detail = (await client.get(f"/v1/contracts/{cid}", headers=headers)).json()

    [item] = listed.json()["items"]
    assert item["progress"] == detail["progress"] == {"signed": 2, "total": 2}
    assert (
        [s["status"] for s in item["signers"]] == [s["status"] for s in detail["signers"]] == ["signed"] * 2
    )


async def test_the_list_shows_the_signer_progress_the_detail_last_saw(client, headers, upstreams, contract):
    upstreams.sign(contract["contract_id"], 0)

    detail = (await client.get(f"/v1/contracts/{contract['contract_id']}", headers=headers)).json()
    [item] = (await client.get("/v1/contracts", headers=headers)).json()["items"]

    assert detail["progress"] == item["progress"] == {"signed": 1, "total": 2}


async def test_cancel_reaches_autentique_once_and_the_list_and_detail_show_it(
    client, headers, upstreams, contract
):
    cid = contract["contract_id"]

    first = await client.post(f"/v1/contracts/{cid}/cancel", headers=headers)
    again = await client.post(f"/v1/contracts/{cid}/cancel", headers=headers)

    assert first.status_code == again.status_code == 200
    assert upstreams.cancels == [cid]
    [item] = (await client.get("/v1/contracts", headers=headers)).json()["items"]
    detail = (await client.get(f"/v1/contracts/{cid}", headers=headers)).json()
    assert item["status"] == detail["status"] == first.json()["status"] == "cancelled"


async def test_a_signed_contract_cannot_be_cancelled_or_reminded(client, headers, upstreams, contract):
    cid = contract["contract_id"]
    upstreams.sign(cid, 0)
    upstreams.sign(cid, 1)

    cancel = await client.post(f"/v1/contracts/{cid}/cancel", headers=headers)
    remind = await client.post(f"/v1/contracts/{cid}/reminders", headers=headers)

    assert cancel.status_code == remind.status_code == 409
    assert upstreams.cancels == []


async def test_a_retried_reminder_with_its_idempotency_key_reminds_once(client, headers, upstreams, contract):
    cid = contract["contract_id"]
    upstreams.sign(cid, 0)
    key = {"Idempotency-Key": "remind-lead_f-1"}

    first = await client.post(f"/v1/contracts/{cid}/reminders", headers=headers | key)
    retried = await client.post(f"/v1/contracts/{cid}/reminders", headers=headers | key)
    another = await client.post(
        f"/v1/contracts/{cid}/reminders", headers=headers | {"Idempotency-Key": "remind-2"}
    )

    assert first.status_code == retried.status_code == 200
    assert first.json() == retried.json() == {"contract_id": cid, "signers": 1}
    assert len(upstreams.reminders) == 1
    assert another.status_code == 429 and "Retry-After" in another.headers
    # The operator's key reaches autentique-service scoped by company (two companies may pick the same key).
    assert list(upstreams.reminders) == [f"{COMPANY}:remind-lead_f-1"]


async def test_the_signed_pdf_link_once_signed(publish, client, headers, until, upstreams, contract):
    cid = contract["contract_id"]
    before = await client.get(f"/v1/contracts/{cid}/signed-pdf", headers=headers)
    upstreams.sign(cid, 0)
    upstreams.sign(cid, 1)
    await publish(
        ContractSigned(
            contract_id=cid,
            deal_id=contract["deal_id"],
            company_id=COMPANY,
            value=15000,
            currency="BRL",
            signed_at=datetime.now(UTC),
        )
    )
    await until(
        lambda: client.get(f"/v1/contracts/{cid}", headers=headers), lambda r: r.json()["status"] == "signed"
    )

    after = await client.get(f"/v1/contracts/{cid}/signed-pdf", headers=headers)

    assert before.status_code == 409
    assert after.status_code == 200
    assert (
        after.json()["url"]
        == f"https://api.autentique.com.br/documentos/{contract['document_id']}/assinado.pdf"
    )


async def test_follow_ups_need_a_key_the_scope_and_the_company(client, make_key, upstreams, contract):
    cid = contract["contract_id"]
    reader = {"X-API-Key": await make_key(scopes={"contracts:read"})}
    stranger = {"X-API-Key": await make_key("cmp_B")}
    for method, path in (("POST", "cancel"), ("POST", "reminders")):
        url = f"/v1/contracts/{cid}/{path}"
        assert (await client.request(method, url)).status_code == 401
        refused = await client.request(method, url, headers=reader)
        assert refused.status_code == 403 and "contracts:write" in refused.json()["error"]["message"]
        assert (await client.request(method, url, headers=stranger)).status_code == 404
    pdf = f"/v1/contracts/{cid}/signed-pdf"
    assert (
        await client.get(pdf, headers={"X-API-Key": await make_key(scopes={"leads:read"})})
    ).status_code == 403
    assert (await client.get(pdf, headers=stranger)).status_code == 404
    assert upstreams.cancels == [] and upstreams.reminders == {}


async def test_bad_input_names_the_field(client, headers, contract):
    bad_id = await client.post("/v1/contracts/not-a-contract/cancel", headers=headers)
    empty_key = await client.post(
        f"/v1/contracts/{contract['contract_id']}/reminders", headers=headers | {"Idempotency-Key": ""}
    )

    assert bad_id.status_code == 422
    assert [p["field"] for p in bad_id.json()["error"]["problems"]] == ["path.contract_id"]
    assert empty_key.status_code == 422
    assert "Idempotency-Key" in json.dumps(empty_key.json()["error"]["problems"])
