"""Every end a reported event reaches is published on `conversion.reported`, once, for the operators."""

from typing import Any

from eventbus import Envelope, LeadCreated, catalog
from eventbus.testing.waiting import eventually
from facebook_capi import handlers

COMPANY = "cmp_01J8Z0P1F7K4V6E9QW3M0N1B2C"


async def reports(service) -> list[Any]:
    entries = await service.bus.redis.xrange(service.bus.keys.stream("conversion.reported"))
    return [catalog.parse(fields[b"e"]) for _, fields in entries]


async def reported(service, count: int) -> list[Any]:
    async def enough() -> list[Any] | None:
        found = await reports(service)
        return found if len(found) >= count else None

    return await eventually(enough, timeout=10)


async def test_a_lead_accepted_by_meta_is_reported_sent_on_the_lead_thread(service, events) -> None:
    await service.configure()
    created = events.lead_created()
    await service.bus.publish(created)
    [report] = await reported(service, 1)
    p = report.payload
    assert (p.outcome, p.source_type, p.source_event_id) == ("sent", "lead.created", created.id)
    assert (p.lead_id, p.event_name, p.pixel_id, p.reason) == (
        created.payload.lead_id,
        "LeadSubmitted",
        "1234567890",
        None,
    )
    assert (report.source, report.company_id) == ("facebook-capi", COMPANY)
    assert (report.correlation_id, report.causation_id) == (created.correlation_id, created.id)


async def test_a_sale_is_reported_with_its_deal_contract_and_value(service, events) -> None:
    await service.configure()
    await service.bus.publish(events.lead_created())
    signed = events.contract_signed()
    await service.bus.publish(signed)
    found = await reported(service, 2)
    [sale] = [r.payload for r in found if r.payload.source_type == "contract.signed"]
    assert (sale.outcome, sale.event_name, sale.deal_id, sale.contract_id) == (
        "sent",
        "Purchase",
        "deal_1",
        "ctr_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1",
    )
    assert (sale.value, sale.currency) == (1497.9, "BRL")


async def test_a_refused_event_is_reported_failed_with_metas_reason_and_no_token(service, events) -> None:
    await service.configure(access_token="EAAGrevoked-token")
    await service.bus.publish(events.lead_created())
    [report] = await reported(service, 1)
    assert report.payload.outcome == "failed"
    assert "code 190" in report.payload.reason and "Invalid OAuth access token" in report.payload.reason
    assert b"EAAGrevoked-token" not in report.to_wire()


async def test_a_lead_without_consent_is_skipped_with_why_and_nothing_reaches_meta(service, events) -> None:
    await service.configure()
    created = events.lead_created()
    refused = created.model_copy(
        update={"payload": created.payload.model_copy(update={"ads_consent": False})}
    )
    await service.bus.publish(refused)
    await service.bus.publish(events.lead_qualified())
    found = await reported(service, 2)
    assert {r.payload.source_type: (r.payload.outcome, r.payload.reason) for r in found} == {
        "lead.created": ("skipped", "no_consent: the contact refused sharing their data with ad platforms"),
        "lead.qualified": ("skipped", "no_consent: the contact refused sharing their data with ad platforms"),
    }
    assert service.graph.requests == []
    assert (await service.stats())["skipped_no_consent"] == 2


async def test_a_qualification_handled_before_its_lead_waits_for_the_leads_consent(service, events) -> None:
    # lead.created and lead.qualified travel on two streams: nothing orders their handling. Before the lead is
    # known its consent is unknown, so the qualification waits for it instead of reaching Meta (it did, with
    # "lead_unknown", and a lead that refused consent was reported as qualified).
    await service.configure()
    created = events.lead_created()
    refused = created.model_copy(
        update={"payload": created.payload.model_copy(update={"ads_consent": False})}
    )
    await service.bus.publish(events.lead_qualified())
    await eventually(lambda: service.bus.redis.exists(service.bus.keys.stream("lead.qualified")))
    await service.bus.publish(refused)
    found = await reported(service, 2)
    assert {r.payload.source_type: r.payload.outcome for r in found} == {
        "lead.created": "skipped",
        "lead.qualified": "skipped",
    }
    assert service.graph.requests == []


async def test_a_company_without_settings_is_reported_skipped(service, events) -> None:
    await service.bus.publish(events.lead_created())
    [report] = await reported(service, 1)
    assert (report.payload.outcome, report.payload.reason) == (
        "skipped",
        "no_capi_settings: the company has no Conversions API settings",
    )


async def test_an_ambiguous_answer_is_reported_unknown(service, events) -> None:
    await service.configure()
    service.graph.fail_with_code(1)  # HTTP 500: Meta may have stored it
    await service.bus.publish(events.lead_created())
    [report] = await reported(service, 1)
    assert report.payload.outcome == "unknown"
    assert report.payload.reason.startswith("outcome_unknown: it may have reached Meta (HTTP 500")


async def test_handling_again_after_a_crash_publishes_the_outcome_once(service, events) -> None:
    await service.configure()
    event: Envelope[LeadCreated] = events.lead_created()
    ports = service.app.state.ports
    await handlers.report_lead(event, ports=ports)
    await handlers.report_lead(event, ports=ports)  # a crash before the ack: handled again
    assert [r.payload.outcome for r in await reports(service)] == ["sent"]
