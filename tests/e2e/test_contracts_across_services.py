"""backoffice-api → autentique-service → Autentique (the fake), each a real app: autentique-service under
uvicorn (a caller that gives up does not cancel the request it sent), the others in-process. One real Redis.

- an operator's re-issue that backoffice-api retries after its timeout, while Autentique is slow, is one
  new contract and one document, and the operator gets that contract;
- the lead's correlation id flows from lead.created through the deal to contract.created and contract.signed,
  each naming its cause.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from asgi_lifespan import LifespanManager
from autentique_service.app import create_app as create_autentique_service
from autentique_service.settings import Settings as AutentiqueSettings
from backoffice_api.apikeys import SCOPES, ApiKeys
from backoffice_api.app import create_app as create_backoffice
from backoffice_api.settings import Settings as BackofficeSettings
from eventbus import Bus, Envelope, LeadCreated, LeadQualified, catalog
from eventbus.server import free_port
from eventbus.testing.waiting import eventually
from fakes import autentique
from fakes.autentique import AutentiqueState, WebhookEndpoint

COMPANY = "cmp_01J8Z0P1F7K4V6E9QW3M0N1B2C"
SERVICE_TOKEN = "svc-token"
SECRET = "whsec_test"
SIGNERS = [
    {"name": "Maria Souza", "email": "maria.souza@example.com", "delivery": "email"},
    {"name": "Ana Lima", "phone": "+5521998765432", "delivery": "whatsapp"},
]


@dataclass
class Stack:
    backoffice: httpx.AsyncClient
    headers: dict[str, str]
    fake: AutentiqueState
    bus: Bus

    async def events(self, channel: str) -> list[Envelope]:
        rows = await self.bus.redis.xrange(self.bus.keys.stream(channel))
        return [catalog.parse(fields[b"e"]) for _, fields in rows]


@pytest.fixture
async def stack(redis_url, bus_settings, bus) -> AsyncIterator[Stack]:
    fake = AutentiqueState(api_token="fake-token", retry_delay_scale=0.0)
    port = free_port()
    service = create_autentique_service(
        AutentiqueSettings(
            redis_url=redis_url,
            bus_prefix=bus_settings.prefix,
            bus_live_prefix=bus_settings.live_prefix,
            api_url="http://autentique.test/v2/graphql",
            api_token="fake-token",
            service_token=SERVICE_TOKEN,
            webhook_secret=SECRET,
            request_timeout=5.0,
            retry_initial_delay=0.01,
            sandbox=True,
        ),
        transport=httpx.ASGITransport(app=autentique.create_app(fake)),
    )
    server = uvicorn.Server(
        uvicorn.Config(service, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on")
    )
    serving = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and not serving.done(), "uvicorn did not start"
        await asyncio.sleep(0.01)
    fake.webhook = WebhookEndpoint(url=f"http://127.0.0.1:{port}/webhooks/autentique", secret=SECRET)
    backoffice = create_backoffice(
        BackofficeSettings(
            redis_url=redis_url,
            bus_prefix=bus_settings.prefix,
            bus_live_prefix=bus_settings.live_prefix,
            consumer_name="e2e",
            consumer_block_seconds=0.1,
            autentique_url=f"http://127.0.0.1:{port}",
            autentique_token=SERVICE_TOKEN,
            upstream_timeout=0.5,  # production: 5 s against a service that may take 45 s
        )
    )
    try:
        async with (
            LifespanManager(backoffice),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=backoffice), base_url="http://bo.test"
            ) as http,
        ):
            keys = ApiKeys(backoffice.state.ports.models.redis, backoffice.state.ports.models.ks)
            secret, _ = await keys.create(
                company_id=COMPANY, scopes=set(SCOPES), rate_per_minute=10_000, burst=1_000
            )
            yield Stack(http, {"X-API-Key": secret}, fake, bus)
    finally:
        server.should_exit = True
        await serving


async def a_deal_for_a_qualified_lead(stack: Stack) -> tuple[Envelope, Envelope, dict]:
    """The lead's events as agent-runtime publishes them (one conversation thread), then the operator's deal."""
    created = Envelope.new(
        LeadCreated(lead_id="lead_e2e", company_id=COMPANY, channel="whatsapp"),
        source="agent-runtime",
        company_id=COMPANY,
    )
    await stack.bus.publish(created)
    qualified = Envelope.new(
        LeadQualified(lead_id="lead_e2e", company_id=COMPANY, score=0.9, criteria=["date"], summary="ok"),
        source="agent-runtime",
        company_id=COMPANY,
        correlation_id=created.correlation_id,
        causation_id=created.id,
    )
    await stack.bus.publish(qualified)

    async def qualified_lead() -> bool:
        response = await stack.backoffice.get("/v1/leads/lead_e2e", headers=stack.headers)
        return response.status_code == 200 and response.json()["qualified_at"] is not None

    await eventually(qualified_lead, timeout=10)
    body = {"lead_id": "lead_e2e", "value": 15000, "currency": "BRL", "event": {"type": "casamento"}}
    deal = await stack.backoffice.post("/v1/deals", json=body, headers=stack.headers)
    assert deal.status_code == 201, deal.text
    return created, qualified, deal.json()


async def test_a_reissue_retried_by_backoffice_after_its_timeout_is_one_contract_and_one_document(
    stack,
) -> None:
    _, _, deal = await a_deal_for_a_qualified_lead(stack)
    path = f"/v1/deals/{deal['deal_id']}/contract"
    first = await stack.backoffice.post(path, json={"signers": SIGNERS}, headers=stack.headers)
    assert first.status_code == 201, first.text
    stack.fake.timeout_after_create(seconds=1.2)  # Autentique makes the document, then answers late

    reissued = await stack.backoffice.post(
        path, json={"signers": SIGNERS, "reissue": True}, headers=stack.headers
    )

    assert reissued.status_code == 201, reissued.text
    new_id = reissued.json()["contract_id"]
    assert new_id != first.json()["contract_id"]
    creates = [r for r in stack.fake.requests if b"createDocument" in r.body]
    assert len(creates) == 2 and len(stack.fake.documents) == 2  # the first contract's and one re-issue
    assert [e.payload.contract_id for e in await stack.events("contract.created")] == [
        first.json()["contract_id"],
        new_id,
    ]
    old = stack.fake.documents[first.json()["document_id"]]
    assert old.deleted_at is not None and not old.signable
    deal_now = (await stack.backoffice.get(f"/v1/deals/{deal['deal_id']}", headers=stack.headers)).json()
    assert deal_now["contract_id"] == new_id


async def test_the_leads_correlation_id_reaches_the_contract_and_its_signature(stack) -> None:
    created, qualified, deal = await a_deal_for_a_qualified_lead(stack)

    contract = await stack.backoffice.post(
        f"/v1/deals/{deal['deal_id']}/contract", json={"signers": SIGNERS}, headers=stack.headers
    )
    for index in range(2):
        await stack.fake.sign(contract.json()["document_id"], index)
    signed = await eventually(lambda: stack.events("contract.signed"), timeout=10)

    [contract_created] = await stack.events("contract.created")
    [contract_signed] = signed
    assert deal["correlation_id"] == created.correlation_id
    assert (contract_created.correlation_id, contract_created.causation_id) == (
        created.correlation_id,
        qualified.id,
    )
    assert (contract_signed.correlation_id, contract_signed.causation_id) == (
        created.correlation_id,
        contract_created.id,
    )


async def test_a_contract_reminded_then_signed_links_its_pdf_and_a_cancelled_one_never_signs(stack) -> None:
    _, _, deal = await a_deal_for_a_qualified_lead(stack)
    api, headers = stack.backoffice, stack.headers
    sent = (
        await api.post(f"/v1/deals/{deal['deal_id']}/contract", json={"signers": SIGNERS}, headers=headers)
    ).json()
    cid, document = sent["contract_id"], sent["document_id"]

    reminder = {"Idempotency-Key": "remind-e2e-1"}
    reminded = await api.post(f"/v1/contracts/{cid}/reminders", headers=headers | reminder)
    again = await api.post(f"/v1/contracts/{cid}/reminders", headers=headers | reminder)
    assert reminded.status_code == again.status_code == 200 and reminded.json()["signers"] == 2
    assert [m for m, _ in stack.fake.mutations] == [
        "resendSignatures"
    ] * 2  # once per signer, not per request

    for index in range(2):
        await stack.fake.sign(document, index)

    async def listed_signed() -> dict | None:
        items = (await api.get("/v1/contracts", headers=headers)).json()["items"]
        mine = [c for c in items if c["contract_id"] == cid and c["status"] == "signed"]
        return mine[0] if mine else None

    listed = await eventually(listed_signed, timeout=10)
    detail = (await api.get(f"/v1/contracts/{cid}", headers=headers)).json()
    assert listed["progress"] == detail["progress"] == {"signed": 2, "total": 2}
    assert [s["status"] for s in listed["signers"]] == [s["status"] for s in detail["signers"]]
    pdf = await api.get(f"/v1/contracts/{cid}/signed-pdf", headers=headers)
    assert pdf.status_code == 200 and pdf.json()["url"].endswith(f"/documentos/{document}/assinado.pdf")

    # A second deal's contract, cancelled: Autentique is told once, its links stop signing, nothing is signed.
    body = {"lead_id": "lead_e2e", "value": 9000, "currency": "BRL", "event": {"type": "aniversário"}}
    other = (await api.post("/v1/deals", json=body, headers=headers)).json()
    second = (
        await api.post(f"/v1/deals/{other['deal_id']}/contract", json={"signers": SIGNERS}, headers=headers)
    ).json()
    before = len(stack.fake.mutations)
    cancelled = await api.post(f"/v1/contracts/{second['contract_id']}/cancel", headers=headers)
    repeated = await api.post(f"/v1/contracts/{second['contract_id']}/cancel", headers=headers)

    assert cancelled.status_code == repeated.status_code == 200
    assert cancelled.json()["status"] == repeated.json()["status"] == "cancelled"
    assert stack.fake.mutations[before:] == [
        ("updateDocument", second["document_id"]),
        ("deleteDocument", second["document_id"]),
    ]
    with pytest.raises(ValueError, match="document_expired"):
        await stack.fake.sign(second["document_id"], 0)

    async def both_listed() -> dict[str, str] | None:
        items = (await api.get("/v1/contracts", headers=headers)).json()["items"]
        statuses = {c["contract_id"]: c["status"] for c in items}
        return statuses if second["contract_id"] in statuses else None

    statuses = await eventually(both_listed, timeout=10)
    assert statuses[second["contract_id"]] == "cancelled" and statuses[cid] == "signed"
    assert [e.payload.contract_id for e in await stack.events("contract.signed")] == [cid]
    refused = await api.post(f"/v1/contracts/{cid}/cancel", headers=headers)
    assert refused.status_code == 409
