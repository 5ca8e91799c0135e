"""What facebook-capi reported to Meta, on the lead and the deal: `conversion.reported` consumed once, served
under the lead's and the deal's scopes, counted per company in `/v1/metrics`."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from backoffice_api import handlers
from backoffice_api.deals import Deals
from backoffice_api.keyspace import Keyspace
from backoffice_api.store import ReadModels
from backoffice_client import AsyncBackofficeClient, NotFound
from eventbus import ConversionReported, Envelope, Keys, LeadCreated
from eventbus.operations import forget_processed, replay_since
from ulid import ULID

COMPANY, OTHER = "cmp_A", "cmp_B"
LEAD = "lead_conv"
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)


def report(
    outcome: str, *, source: str = "evt_lead_created", company: str = COMPANY, at: datetime = T0, **fields
):
    payload = ConversionReported(
        company_id=company,
        source_event_id=source,
        source_type=fields.pop("source_type", "lead.created"),
        lead_id=fields.pop("lead_id", LEAD),
        outcome=outcome,
        reported_at=at,
        **fields,
    )
    return Envelope.new(payload, source="facebook-capi", company_id=company, occurred_at=at)


async def a_lead(publish, client, headers, until, lead_id=LEAD, company=COMPANY):
    await publish(LeadCreated(lead_id=lead_id, company_id=company, channel="whatsapp"), company=company)
    await until(lambda: client.get(f"/v1/leads/{lead_id}", headers=headers), lambda r: r.status_code == 200)


async def conversions_of(client, headers, until, path: str, count: int):
    response = await until(
        lambda: client.get(path, headers=headers),
        lambda r: r.status_code == 200 and len(r.json()["items"]) >= count,
    )
    return response.json()["items"]


async def test_a_lead_shows_each_reported_event_sent_failed_or_skipped_with_why(
    publish, client, headers, until
) -> None:
    await a_lead(publish, client, headers, until)
    await publish(report("sent", event_name="Lead", pixel_id="1234567890"))
    await publish(
        report(
            "failed",
            source="evt_qualified",
            source_type="lead.qualified",
            event_name="QualifiedLead",
            reason="Meta rejected the events: code 190: Invalid OAuth access token",
            at=T0 + timedelta(seconds=1),
        )
    )
    await publish(
        report(
            "skipped",
            source="evt_signed",
            source_type="contract.signed",
            reason="no_consent: the contact refused sharing their data with ad platforms",
            deal_id="deal_x",
            at=T0 + timedelta(seconds=2),
        )
    )
    items = await conversions_of(client, headers, until, f"/v1/leads/{LEAD}/conversions", 3)
    assert [(i["source_type"], i["event_name"], i["outcome"], i["reason"]) for i in items] == [
        ("lead.created", "Lead", "sent", None),
        (
            "lead.qualified",
            "QualifiedLead",
            "failed",
            "Meta rejected the events: code 190: Invalid OAuth access token",
        ),
        (
            "contract.signed",
            None,
            "skipped",
            "no_consent: the contact refused sharing their data with ad platforms",
        ),
    ]
    assert items[0]["source_event_id"] == "evt_lead_created"
    assert items[0]["reported_at"].startswith(T0.strftime("%Y-%m-%dT%H:%M:%S"))


async def test_a_later_outcome_of_the_same_event_replaces_the_earlier_one_and_a_late_older_one_does_not(
    publish, client, headers, until
) -> None:
    await a_lead(publish, client, headers, until)
    await publish(
        report("unknown", reason="outcome_unknown: it may have reached Meta (HTTP 500 (server_error))")
    )
    await publish(report("sent", event_name="Lead", at=T0 + timedelta(minutes=1)))  # an operator resolved it
    await until(
        lambda: client.get(f"/v1/leads/{LEAD}/conversions", headers=headers),
        lambda r: [i["outcome"] for i in r.json()["items"]] == ["sent"],
    )
    await publish(report("unknown", reason="late", at=T0 - timedelta(minutes=1)))
    marker = await publish(
        report("skipped", source="evt_other", reason="capi_disabled", at=T0 + timedelta(minutes=2))
    )
    items = await conversions_of(client, headers, until, f"/v1/leads/{LEAD}/conversions", 2)
    assert [(i["source_event_id"], i["outcome"]) for i in items] == [
        ("evt_lead_created", "sent"),
        ("evt_other", "skipped"),
    ]
    assert marker.payload.source_event_id == "evt_other"


async def test_a_sale_is_visible_on_its_deal_and_on_the_deals_lead(publish, client, headers, until) -> None:
    await a_lead(publish, client, headers, until)
    deal = (
        await client.post(
            "/v1/deals", json={"lead_id": LEAD, "value": 15000, "currency": "BRL"}, headers=headers
        )
    ).json()
    # A sale reported without its lead (an older contract event): the deal knows its lead.
    sale = report(
        "sent",
        source="evt_signed",
        source_type="contract.signed",
        lead_id=None,
        deal_id=deal["deal_id"],
        contract_id="ctr_1",
        event_name="Purchase",
        value=15000,
        currency="BRL",
    )
    await publish(sale)
    [on_deal] = await conversions_of(client, headers, until, f"/v1/deals/{deal['deal_id']}/conversions", 1)
    assert (on_deal["event_name"], on_deal["outcome"], on_deal["value"], on_deal["currency"]) == (
        "Purchase",
        "sent",
        15000,
        "BRL",
    )
    assert (on_deal["lead_id"], on_deal["contract_id"]) == (LEAD, "ctr_1")
    [on_lead] = await conversions_of(client, headers, until, f"/v1/leads/{LEAD}/conversions", 1)
    assert on_lead == on_deal


async def test_a_replayed_outcome_event_changes_nothing(
    publish, client, headers, until, bus, redis, keyspace, snapshot
) -> None:
    await a_lead(publish, client, headers, until)
    await publish(report("sent", event_name="Lead"))
    await conversions_of(client, headers, until, f"/v1/leads/{LEAD}/conversions", 1)
    metrics = {"from": (T0 - timedelta(hours=1)).isoformat(), "to": (T0 + timedelta(hours=1)).isoformat()}

    async def counted():
        return (await client.get("/v1/metrics", params=metrics, headers=headers)).json()["totals"]

    assert (await counted())["conversions_sent"] == 1
    before = await snapshot(keyspace)
    # The bus skips a processed event; forgetting that (a rebuild does) leaves the applied marker to stop it.
    await replay_since(bus, "conversion.reported", "backoffice-api", T0 - timedelta(hours=1), force=True)
    await forget_processed(bus, "conversion.reported", "backoffice-api")
    await replay_since(bus, "conversion.reported", "backoffice-api", T0 - timedelta(hours=1), force=True)
    # A marker event after the replays: once it shows, the replays were handled.
    await publish(
        report("skipped", source="evt_marker", reason="capi_disabled", at=T0 + timedelta(seconds=5))
    )
    await conversions_of(client, headers, until, f"/v1/leads/{LEAD}/conversions", 2)
    after = await snapshot(keyspace)
    changed = {k for k in after if before.get(k) != after[k]}
    assert all(("conversions:lead" in k) or (":metrics:" in k) or (":applied:" in k) for k in changed), (
        changed
    )
    assert (await counted())["conversions_sent"] == 1
    assert (await counted())["conversions_skipped"] == 1


async def test_another_companys_lead_and_deal_are_404_and_scopes_are_checked(
    publish, client, headers, other_headers, make_key, until
) -> None:
    await a_lead(publish, client, headers, until)
    deal = (await client.post("/v1/deals", json={"lead_id": LEAD, "value": 1}, headers=headers)).json()
    await publish(report("sent", event_name="Lead"))
    await conversions_of(client, headers, until, f"/v1/leads/{LEAD}/conversions", 1)
    for path in (f"/v1/leads/{LEAD}/conversions", f"/v1/deals/{deal['deal_id']}/conversions"):
        response = await client.get(path, headers=other_headers)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"
    assert (await client.get(f"/v1/leads/{LEAD}/conversions")).status_code == 401
    deals_only = {"X-API-Key": await make_key(COMPANY, scopes=("deals:read",))}
    assert (await client.get(f"/v1/leads/{LEAD}/conversions", headers=deals_only)).status_code == 403
    assert (
        await client.get(f"/v1/deals/{deal['deal_id']}/conversions", headers=deals_only)
    ).status_code == 200
    leads_only = {"X-API-Key": await make_key(COMPANY, scopes=("leads:read",))}
    assert (
        await client.get(f"/v1/deals/{deal['deal_id']}/conversions", headers=leads_only)
    ).status_code == 403
    bad = await client.get("/v1/leads/not-a-lead/conversions", headers=headers)
    assert bad.status_code == 422 and bad.json()["error"]["problems"][0]["field"].endswith("lead_id")


async def test_metrics_count_outcomes_per_company(publish, client, headers, other_headers, until) -> None:
    await publish(report("sent", event_name="Lead"))
    await publish(report("sent", source="evt_2", event_name="Lead"))
    await publish(report("failed", source="evt_3", reason="invalid_conversion: event_name is required"))
    await publish(report("unknown", source="evt_4", reason="outcome_unknown"))
    await publish(
        report("skipped", source="evt_5", company=OTHER, lead_id="lead_other", reason="no_consent"),
        company=OTHER,
    )
    metrics = {"from": (T0 - timedelta(hours=1)).isoformat(), "to": (T0 + timedelta(hours=1)).isoformat()}
    response = await until(
        lambda: client.get("/v1/metrics", params=metrics, headers=headers),
        lambda r: r.json()["totals"]["conversions_unknown"] == 1,
    )
    totals = response.json()["totals"]
    assert {k: v for k, v in totals.items() if k.startswith("conversions_")} == {
        "conversions_sent": 2,
        "conversions_dry_run": 0,
        "conversions_failed": 1,
        "conversions_skipped": 0,
        "conversions_unknown": 1,
    }
    other = await until(
        lambda: client.get("/v1/metrics", params=metrics, headers=other_headers),
        lambda r: r.json()["totals"]["conversions_skipped"] == 1,
    )
    assert other.json()["totals"]["conversions_sent"] == 0


async def test_the_python_client_reads_a_leads_and_a_deals_conversions(
    publish, app, client, headers, until
) -> None:
    await a_lead(publish, client, headers, until)
    deal = (await client.post("/v1/deals", json={"lead_id": LEAD, "value": 1}, headers=headers)).json()
    await publish(report("sent", event_name="Lead"))
    await publish(
        report(
            "unknown", source="evt_signed", source_type="contract.signed", deal_id=deal["deal_id"], reason="x"
        )
    )
    await conversions_of(client, headers, until, f"/v1/leads/{LEAD}/conversions", 2)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
    async with http, AsyncBackofficeClient(api_key=headers["X-API-Key"], http=http) as api:
        on_lead = await api.lead_conversions(LEAD)
        assert [(c.source_type, c.outcome) for c in on_lead] == [
            ("lead.created", "sent"),
            ("contract.signed", "unknown"),
        ]
        [on_deal] = await api.deal_conversions(deal["deal_id"])
        assert (on_deal.outcome, on_deal.reason, on_deal.lead_id) == ("unknown", "x", LEAD)
        with pytest.raises(NotFound):
            await api.lead_conversions("lead_nobody")


async def test_any_arrival_order_of_a_leads_reports_yields_the_same_read_models(redis, snapshot) -> None:
    reports = [
        report("unknown", reason="outcome_unknown: it may have reached Meta"),
        report("sent", event_name="Lead", at=T0 + timedelta(minutes=1)),  # the operator's decision, later
        report("skipped", source="evt_q", source_type="lead.qualified", reason="capi_disabled"),
        report("failed", source="evt_s", source_type="contract.signed", deal_id="deal_1", reason="too old"),
    ]
    seen = []
    for order in itertools.permutations(reports):
        ks = Keyspace(Keys(f"p{ULID()}"))
        on_event = handlers.reactions(ReadModels(redis, ks, marker_ttl=timedelta(days=8)), Deals(redis, ks))
        for event in order:
            await on_event[event.type](event)
        views = await snapshot(ks)
        seen.append({k: v for k, v in views.items() if ":applied:" not in k})
    assert all(views == seen[0] for views in seen)
    on_lead = seen[0][f"{{{COMPANY}}}:conversions:lead:{LEAD}"]
    assert {k: json.loads(v)["outcome"] for k, v in on_lead.items()} == {
        "evt_lead_created": "sent",
        "evt_q": "skipped",
        "evt_s": "failed",
    }
    assert set(seen[0][f"{{{COMPANY}}}:conversions:deal:deal_1"]) == {"evt_s"}
