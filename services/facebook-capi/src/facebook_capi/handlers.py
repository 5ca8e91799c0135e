"""One reaction per catalog event: `lead.created`, `lead.qualified`, `contract.signed` → one CAPI event each.

Each handler returns only once Meta accepted the event (or it was deliberately skipped), so the consumer's
acknowledgement follows delivery; errors decide the rest (`errors.py`). Every end it reaches — sent, skipped,
failed for good, unknown — is also published on `conversion.reported` (`reporting.py`); a transient failure,
retried, publishes nothing until it ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn

import structlog
from eventbus import ContractSigned, Envelope, LeadCreated, LeadQualified, Outage, PermanentFailure
from servicekit.outcomes import Answer, OutcomeUnknown, State

from facebook_capi import conversions, leads
from facebook_capi.batcher import Batcher
from facebook_capi.companies import CompanyCapi, CompanyConfigs
from facebook_capi.delivery import Destination, DryRunLog
from facebook_capi.leads import LeadIndex, LeadRecord
from facebook_capi.ledger import SentLedger
from facebook_capi.reporting import SKIPPED, ConversionReports
from facebook_capi.stats import Outcome, Stats

log = structlog.get_logger("facebook_capi.handlers")


@dataclass(frozen=True)
class Ports:
    companies: CompanyConfigs
    leads: LeadIndex
    ledger: SentLedger
    batcher: Batcher[Destination]
    stats: Stats
    reports: ConversionReports
    default_country: str = "BR"
    max_event_age_seconds: int = 7 * 24 * 3600
    lead_wait_seconds: float = 300.0
    dry_run: bool = False
    #: What dry-run mode would have sent (the admin API lists it); None only in tests that build Ports alone.
    dry_run_log: DryRunLog | None = None
    clock: Callable[[], float] = field(default=time.time)

    def region(self, company: CompanyCapi | None) -> str:
        return (company.country if company is not None and company.country else self.default_country).upper()


async def report_lead(event: Envelope[LeadCreated], *, ports: Ports) -> None:
    """Index the lead's hashed identifiers (for its later events), then report `Lead` / `LeadSubmitted`."""
    company = await ports.companies.get(event.company_id)
    record = leads.record_from(event.payload, region=ports.region(company))
    # Indexed even for a company without CAPI configuration: it may be configured before the lead converts.
    await ports.leads.put(event.company_id, record)
    await _report(event, record, company, ports, gaps=())


async def report_qualified_lead(event: Envelope[LeadQualified], *, ports: Ports) -> None:
    company = await ports.companies.get(event.company_id)
    record = await _lead_of(event, event.payload.lead_id, ports)
    await _report(event, record, company, ports, gaps=() if record else ("lead_unknown",))


async def report_purchase(event: Envelope[ContractSigned], *, ports: Ports) -> None:
    company = await ports.companies.get(event.company_id)
    lead_id = event.payload.lead_id
    if lead_id is None:
        # autentique-service adds lead_id to contract events; an older producer does not.
        await _report(event, None, company, ports, gaps=("lead_id_missing",))
        return
    record = await _lead_of(event, lead_id, ports)
    await _report(event, record, company, ports, gaps=() if record else ("lead_unknown",))


async def _lead_of(event: Envelope[Any], lead_id: str, ports: Ports) -> LeadRecord | None:
    """The lead's record; while the event is younger than ``lead_wait_seconds`` and the lead's ``lead.created``
    is not handled yet (another stream: no order between them), the event waits for it (an ``Outage``: put
    back without an attempt counted) — until then the lead's consent is unknown, and a lead that refused it
    must never reach Meta. Older, it is sent with what is known (a lead created before this service saw it)."""
    record = await ports.leads.get(event.company_id, lead_id)
    if record is None and ports.clock() - event.occurred_at.timestamp() < ports.lead_wait_seconds:
        raise Outage("the lead's lead.created is not handled yet: its consent is unknown", retry_after=0.5)
    return record


async def _report(
    event: Envelope[Any],
    lead: LeadRecord | None,
    company: CompanyCapi | None,
    ports: Ports,
    *,
    gaps: tuple[Outcome, ...],
) -> None:
    try:
        await _deliver(event, lead, company, ports, gaps=gaps)
    except OutcomeUnknown:
        raise  # published where it was decided (``_unknown``)
    except PermanentFailure as exc:
        # Dead-lettered with this reason; the operators see it on the lead too. Our errors' messages name
        # fields, codes and Meta's words, never a token or a lead's identifiers.
        pixel = company.pixel_id if company is not None else None
        await ports.reports.publish(event, "failed", reason=str(exc), pixel_id=pixel)
        raise


async def _deliver(
    event: Envelope[Any],
    lead: LeadRecord | None,
    company: CompanyCapi | None,
    ports: Ports,
    *,
    gaps: tuple[Outcome, ...],
) -> None:
    skipped: Outcome | None = None
    if company is None or not company.enabled:
        skipped = "skipped_no_config" if company is None else "skipped_disabled"
    elif lead is not None and lead.ads_consent is False:
        skipped = "skipped_no_consent"
    if skipped is not None:
        await ports.stats.count(event.company_id, event.type, skipped)
        log.info("conversion_skipped", reason=skipped)
        await ports.reports.publish(event, "skipped", reason=SKIPPED[skipped])
        return
    assert company is not None
    now = ports.clock()
    conversions.check_age(event, now=now, max_age_seconds=ports.max_event_age_seconds)
    plan = conversions.plan(event, lead=lead, company=company, region=ports.region(company), now=now)
    conversions.validate(plan.server_event, now=now, max_age_seconds=ports.max_event_age_seconds)
    pixel = company.pixel_id
    record = await ports.ledger.begin(pixel, event.id)
    name = plan.conversion.event_name
    if record.state is State.SENT:
        await ports.stats.count(event.company_id, event.type, "already_sent")
        log.info("conversion_already_sent", pixel_id=pixel)
        # A no-op when published before (its natural key); else the handling that sent it stopped short.
        await ports.reports.publish(event, "sent", event_name=name, pixel_id=pixel)
        return
    if record.state is State.UNKNOWN:
        reason = f"outcome_unknown: awaits an operator's decision ({record.ref})"
        await ports.reports.publish(event, "unknown", reason=reason, event_name=name, pixel_id=pixel)
        raise OutcomeUnknown(f"event {event.id} awaits an operator's decision", answer=Answer(record.ref))
    if record.state is State.IN_FLIGHT:
        # An earlier handling of this event claimed it and never finished (the bus leases an event to one
        # handling at a time): it may have reached Meta, which offers no way to look it up.
        await _unknown(event, pixel, Answer("crashed_mid_call"), ports, event_name=name)
    destination = Destination(pixel, company.access_token, company.test_event_code)
    try:
        await ports.batcher.submit(destination, plan.server_event)
    except OutcomeUnknown as exc:
        await _unknown(event, pixel, exc.answer, ports, event_name=name)
    except Exception:
        await ports.ledger.failed(pixel, event.id)  # proved not stored: a later handling may send it
        raise
    # A cancelled handler (shutdown) keeps its claim: its batch may still be accepted, so the next handling
    # finds it in flight and leaves the decision to an operator rather than send a second copy.
    sent: Literal["sent", "dry_run"] = "dry_run" if ports.dry_run else "sent"
    await ports.stats.count(event.company_id, event.type, sent)
    await ports.reports.publish(event, sent, event_name=name, pixel_id=pixel)
    for gap in (*gaps, *plan.gaps):
        await ports.stats.count(event.company_id, event.type, gap)  # type: ignore[arg-type]
    log.info(
        "conversion_sent" if not ports.dry_run else "conversion_dry_run",
        pixel_id=pixel,
        event_name=plan.conversion.event_name,
        route=plan.route,
        gaps=[*gaps, *plan.gaps],
    )


async def _unknown(
    event: Envelope[Any], pixel: str, answer: Answer, ports: Ports, *, event_name: str
) -> NoReturn:
    await ports.ledger.unknown(
        pixel, event.id, answer=answer, channel=event.type, company_id=event.company_id
    )
    await ports.stats.count(event.company_id, event.type, "unknown")
    reason = f"outcome_unknown: it may have reached Meta ({answer}); an operator decides"
    await ports.reports.publish(event, "unknown", reason=reason, event_name=event_name, pixel_id=pixel)
    raise OutcomeUnknown(f"conversion to pixel {pixel}: {answer}", answer=answer)
