"""Metrics over HTTP: bucket counters aggregated on consume, totals and conversion rates, a cached summary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from eventbus import ContractCreated, ContractSigned, Envelope, LeadCreated, LeadQualified, MessageReceived

COMPANY, OTHER = "cmp_A", "cmp_B"
T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def env(payload, minutes, company=COMPANY):
    return Envelope.new(
        payload, source="tests", company_id=company, occurred_at=T0 + timedelta(minutes=minutes)
    )


async def seed(publish):
    for i in range(4):
        await publish(env(LeadCreated(lead_id=f"lead_{i}", company_id=COMPANY, channel="whatsapp"), i * 4))
    for i in range(2):
        await publish(env(LeadQualified(lead_id=f"lead_{i}", company_id=COMPANY, score=0.9), 20 + i))
    await publish(
        env(
            ContractCreated(
                contract_id="ctr_1",
                deal_id="d",
                company_id=COMPANY,
                value=1,
                currency="BRL",
                lead_id="lead_0",
            ),
            30,
        )
    )
    await publish(
        env(
            ContractSigned(
                contract_id="ctr_1",
                deal_id="d",
                company_id=COMPANY,
                value=1,
                currency="BRL",
                lead_id="lead_0",
                signed_at=T0,
            ),
            70,
        )
    )
    message = MessageReceived.model_validate(
        {"instance_id": "i", "lead_external_id": "wa:+5511911112222", "from": "+5511911112222", "body": "oi"}
    )
    await publish(env(message, 1))
    await publish(env(LeadCreated(lead_id="lead_x", company_id=OTHER, channel="whatsapp"), 1, company=OTHER))


RANGE = {"from": T0.isoformat(), "to": (T0 + timedelta(hours=2)).isoformat()}


async def test_counts_per_bucket_with_totals_and_conversion_rates(publish, client, headers, until):
    await seed(publish)
    expected_totals = {
        "messages_in": 1,
        "messages_out": 0,
        "leads_created": 4,
        "leads_qualified": 2,
        "contracts_created": 1,
        "contracts_signed": 1,
        # nothing was reported to Meta (facebook-capi's conversion.reported): test_conversions_api.py
        "conversions_sent": 0,
        "conversions_dry_run": 0,
        "conversions_failed": 0,
        "conversions_skipped": 0,
        "conversions_unknown": 0,
    }
    # Each channel is consumed on its own: wait until every one of them has been projected.
    response = await until(
        lambda: client.get("/v1/metrics", headers=headers, params=RANGE | {"bucket": "15m"}),
        lambda r: r.json()["totals"] == expected_totals,
    )
    report = response.json()
    assert report["bucket"] == "15m" and len(report["series"]) == 8
    assert [b["leads_created"] for b in report["series"][:2]] == [4, 0]
    assert report["series"][0]["messages_in"] == 1 and report["series"][1]["leads_qualified"] == 2
    assert report["totals"] == expected_totals
    assert report["rates"] == {"qualification": 0.5, "contract": 0.5, "signature": 1.0, "lead_to_won": 0.25}
    five = (await client.get("/v1/metrics", headers=headers, params=RANGE | {"bucket": "5m"})).json()
    assert len(five["series"]) == 24 and five["totals"] == report["totals"]
    hour = (await client.get("/v1/metrics", headers=headers, params=RANGE | {"bucket": "1h"})).json()
    assert [b["leads_created"] for b in hour["series"]] == [4, 0] and hour["series"][1][
        "contracts_signed"
    ] == 1


async def test_another_companys_counts_are_not_mine(publish, client, other_headers, until):
    await seed(publish)
    response = await until(
        lambda: client.get("/v1/metrics", headers=other_headers, params=RANGE),
        lambda r: r.json()["totals"]["leads_created"] == 1,
    )
    assert response.json()["rates"]["qualification"] == 0.0 and response.json()["rates"]["signature"] is None


async def test_summary_is_served_from_cache_for_a_few_seconds(publish, make_app, make_key, until):
    import httpx
    from asgi_lifespan import LifespanManager

    app = make_app(metrics_cache_seconds=60)
    headers = {"X-API-Key": await make_key()}
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
    ):
        first = (await c.get("/v1/metrics", headers=headers, params=RANGE)).json()
        assert first["totals"]["leads_created"] == 0
        await publish(env(LeadCreated(lead_id="lead_c", company_id=COMPANY, channel="whatsapp"), 1))
        await until(lambda: c.get("/v1/leads/lead_c", headers=headers), lambda r: r.status_code == 200)
        assert (await c.get("/v1/metrics", headers=headers, params=RANGE)).json() == first
        other_range = RANGE | {"bucket": "15m"}
        assert (await c.get("/v1/metrics", headers=headers, params=other_range)).json()["totals"][
            "leads_created"
        ] == 1


async def test_bad_ranges_and_buckets_are_422_naming_the_field(client, headers):
    cases = {
        "bucket": {"bucket": "2m"},
        "to": {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        "from": {"bucket": "5m", "from": "2025-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
    }
    for field, params in cases.items():
        response = await client.get("/v1/metrics", headers=headers, params=params)
        assert response.status_code == 422, (field, response.text)
        assert [p["field"].split(".")[-1] for p in response.json()["error"]["problems"]] == [field]
