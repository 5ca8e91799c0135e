"""facebook-capi → `conversion.reported` → backoffice-api, each a real ASGI app on its own Redis ACL user, Meta
being the fake Graph API: what reached Meta is visible to the lead's operators, and only to them.

- a lead.created reaches Meta as `LeadSubmitted` and shows on the lead as sent, a sale as `Purchase` on the
  deal and on the lead, both counted in the company's metrics;
- a Graph API that refuses the company's token: the lead shows failed, with Meta's reason;
- a contact who refused ads data sharing: nothing reaches Meta, the lead shows skipped and why.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from backoffice_api.apikeys import SCOPES, ApiKeys
from backoffice_api.app import create_app as create_backoffice
from backoffice_api.settings import Settings as BackofficeSettings
from eventbus import Bus, ContractSigned, Envelope, LeadCreated
from eventbus.testing.waiting import eventually
from facebook_capi.app import create_app as create_capi
from facebook_capi.settings import Settings as CapiSettings
from fakes import graph
from fakes.graph import GraphState
from servicekit.secretbox import generate_key

COMPANY, OTHER = "cmp_01J8Z0P1F7K4V6E9QW3M0N1B2C", "cmp_other"
PIXEL, TOKEN, WABA = "1234567890", "EAAGtest-SECRET-capi-token-0123456789", "102030405060708"
CLID = "ARAkPLACEHOLDERctwaClidValue-EXAMPLE-0123456789"
ADMIN = {"Authorization": "Bearer capi-admin-token"}


@dataclass
class Stack:
    capi: httpx.AsyncClient
    backoffice: httpx.AsyncClient
    headers: dict[str, str]
    other_headers: dict[str, str]
    graph: GraphState
    bus: Bus

    async def configure(self, **overrides: Any) -> None:
        body = {"pixel_id": PIXEL, "access_token": TOKEN, "waba_id": WABA, **overrides}
        response = await self.capi.put(f"/v1/companies/{COMPANY}/capi", json=body, headers=ADMIN)
        assert response.status_code == 200, response.text

    async def conversions(self, path: str, count: int) -> list[dict[str, Any]]:
        async def enough() -> list[dict[str, Any]] | None:
            response = await self.backoffice.get(path, headers=self.headers)
            items = response.json()["items"] if response.status_code == 200 else []
            return items if len(items) >= count else None

        return await eventually(enough, timeout=15)


@pytest.fixture
async def stack(service_redis_url, bus_settings, bus) -> AsyncIterator[Stack]:
    fake = GraphState()
    fake.add_pixel(PIXEL, TOKEN)
    capi = create_capi(
        CapiSettings(
            redis_url=service_redis_url("facebook-capi"),
            secrets_keys=generate_key(),
            bus_prefix=bus_settings.prefix,
            bus_live_prefix=bus_settings.live_prefix,
            consumer_block_seconds=0.1,
            admin_token="capi-admin-token",
            graph_url="http://graph.test",
            consumer_name="e2e",
            batch_max_delay=0.02,
            retry_initial_delay=0.01,
            retry_max_delay=0.05,
        ),
        transport=httpx.ASGITransport(app=graph.create_app(fake)),
    )
    backoffice = create_backoffice(
        BackofficeSettings(
            redis_url=service_redis_url("backoffice-api"),
            bus_prefix=bus_settings.prefix,
            bus_live_prefix=bus_settings.live_prefix,
            consumer_name="e2e",
            consumer_block_seconds=0.1,
            metrics_cache_seconds=0,
        )
    )
    async with (
        LifespanManager(capi),
        LifespanManager(backoffice),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=capi), base_url="http://capi.test") as capi_http,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=backoffice), base_url="http://bo.test") as http,
    ):
        keys = ApiKeys(backoffice.state.ports.models.redis, backoffice.state.ports.models.ks)
        ours, _ = await keys.create(company_id=COMPANY, scopes=set(SCOPES) - {"platform:admin"})
        theirs, _ = await keys.create(company_id=OTHER, scopes=set(SCOPES) - {"platform:admin"})
        yield Stack(capi_http, http, {"X-API-Key": ours}, {"X-API-Key": theirs}, fake, bus)


def lead_created(lead_id: str, **fields: Any) -> Envelope[LeadCreated]:
    payload = LeadCreated(
        lead_id=lead_id,
        company_id=COMPANY,
        channel="whatsapp",
        source="ads",
        lead_external_id="wa:+5511987654321",
        ctwa_clid=CLID,
        **fields,
    )
    return Envelope.new(payload, source="agent-runtime", company_id=COMPANY)


async def test_a_lead_and_its_sale_sent_to_meta_are_visible_on_the_lead_the_deal_and_the_metrics(
    stack,
) -> None:
    await stack.configure()
    created = lead_created("lead_sent")
    await stack.bus.publish(created)
    [lead] = await stack.conversions("/v1/leads/lead_sent/conversions", 1)
    assert (lead["source_event_id"], lead["event_name"], lead["outcome"]) == (
        created.id,
        "LeadSubmitted",
        "sent",
    )
    assert [e["event_id"] for e in stack.graph.events_for(PIXEL)] == [created.id]
    deal = await stack.backoffice.post(
        "/v1/deals", json={"lead_id": "lead_sent", "value": 15000, "currency": "BRL"}, headers=stack.headers
    )
    deal_id = deal.json()["deal_id"]
    signed = ContractSigned(
        contract_id="ctr_e2e",
        deal_id=deal_id,
        company_id=COMPANY,
        signed_at=datetime.now(UTC),
        value=15000,
        currency="BRL",
        lead_id="lead_sent",
    )
    await stack.bus.publish(Envelope.new(signed, source="autentique-service", company_id=COMPANY))
    [sale] = await stack.conversions(f"/v1/deals/{deal_id}/conversions", 1)
    assert (sale["event_name"], sale["outcome"], sale["value"], sale["contract_id"]) == (
        "Purchase",
        "sent",
        15000,
        "ctr_e2e",
    )
    both = await stack.conversions("/v1/leads/lead_sent/conversions", 2)
    assert [c["event_name"] for c in both] == ["LeadSubmitted", "Purchase"]
    now = datetime.now(UTC)
    window = {"from": (now - timedelta(hours=1)).isoformat(), "to": (now + timedelta(hours=1)).isoformat()}
    totals = (await stack.backoffice.get("/v1/metrics", params=window, headers=stack.headers)).json()[
        "totals"
    ]
    assert totals["conversions_sent"] == 2
    # The other company sees neither the lead's conversions nor their counts.
    other = await stack.backoffice.get("/v1/leads/lead_sent/conversions", headers=stack.other_headers)
    assert other.status_code == 404
    theirs = (await stack.backoffice.get("/v1/metrics", params=window, headers=stack.other_headers)).json()
    assert theirs["totals"]["conversions_sent"] == 0


async def test_a_refused_token_shows_failed_with_metas_reason(stack) -> None:
    await stack.configure(access_token="EAAGrevoked-token")
    await stack.bus.publish(lead_created("lead_failed"))
    [lead] = await stack.conversions("/v1/leads/lead_failed/conversions", 1)
    assert lead["outcome"] == "failed"
    assert "code 190" in lead["reason"] and "Invalid OAuth access token" in lead["reason"]
    assert "EAAGrevoked-token" not in lead["reason"]


async def test_a_contact_without_consent_is_skipped_with_why_and_nothing_reaches_meta(stack) -> None:
    await stack.configure()
    await stack.bus.publish(lead_created("lead_no_consent", ads_consent=False))
    [lead] = await stack.conversions("/v1/leads/lead_no_consent/conversions", 1)
    assert (lead["outcome"], lead["reason"]) == (
        "skipped",
        "no_consent: the contact refused sharing their data with ad platforms",
    )
    assert stack.graph.events_for(PIXEL) == []
