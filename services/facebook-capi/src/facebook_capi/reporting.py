"""What became of each event reported to Meta, published on ``conversion.reported`` for operators.

backoffice-api shows it on the lead and the deal; it may not read this service's keys, so the outcome travels
on the bus (docs/catalog.md, "An added channel"). One event per outcome of a reported event: the producer's
natural key is ``<source event id>:<outcome>``, so a redelivered or replayed handling that reaches the same
outcome publishes nothing new, and a handler may publish again whenever it is unsure it did (a crash after
Meta's answer and before the publish: the next handling finds the event sent and publishes ``sent``).
"""

from __future__ import annotations

from typing import Any

from eventbus import Bus, ContractSigned, ConversionReported, Envelope
from eventbus.envelope import now
from eventbus.payloads import ConversionOutcome

from facebook_capi import SERVICE

REASON_CHARS = 500

#: Why an event was not sent, in the words the operators read (the stats' outcome names → an explanation).
SKIPPED = {
    "skipped_no_config": "no_capi_settings: the company has no Conversions API settings",
    "skipped_disabled": "capi_disabled: the company's Conversions API settings are disabled",
    "skipped_no_consent": "no_consent: the contact refused sharing their data with ad platforms",
}


class ConversionReports:
    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    async def publish(
        self,
        event: Envelope[Any],
        outcome: ConversionOutcome,
        *,
        reason: str | None = None,
        event_name: str | None = None,
        pixel_id: str | None = None,
    ) -> None:
        p = event.payload
        signed = p if isinstance(p, ContractSigned) else None
        payload = ConversionReported(
            company_id=event.company_id,
            source_event_id=event.id,
            source_type=event.type,  # one of the three channels this service consumes (validated)
            lead_id=getattr(p, "lead_id", None),
            deal_id=signed.deal_id if signed else None,
            contract_id=signed.contract_id if signed else None,
            outcome=outcome,
            reason=reason[:REASON_CHARS] if reason else None,
            event_name=event_name,
            pixel_id=pixel_id,
            value=signed.value if signed else None,
            currency=signed.currency if signed else None,
            reported_at=now(),
        )
        report = Envelope.new(
            payload,
            source=SERVICE,
            company_id=event.company_id,
            correlation_id=event.correlation_id,
            causation_id=event.id,
        )
        await self._bus.publish(report, dedupe_key=f"{event.id}:{outcome}")
