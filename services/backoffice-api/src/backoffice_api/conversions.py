"""What facebook-capi reported to Meta, per lead and per deal: the ``conversion.reported`` read model.

One hash per lead and per deal (``Keyspace.conversions``): the reported catalog event's id → the newest
outcome reported for it (JSON with its ``at``, so that ``hnewest`` keeps a later outcome — an unknown one an
operator resolved, a dead letter replayed and sent — and ignores an older one arriving late). The outcomes
are also counted in the metric buckets (``conversions_<outcome>``), under the applied marker like every
other counter, so a replay counts nothing twice. A lead or a deal has a handful of reported events: its
hash is read whole.
"""

from __future__ import annotations

import json
from typing import Any, cast

from eventbus import Client, ConversionReported, Envelope
from eventbus.envelope import format_timestamp

from backoffice_api import projections
from backoffice_api.deals import Deals
from backoffice_api.keyspace import Keyspace
from backoffice_api.projections import Op
from backoffice_api.store import ReadModels

#: The metric counter of each outcome (``/v1/metrics``).
COUNTER = {
    "sent": "conversions_sent",
    "dry_run": "conversions_dry_run",
    "failed": "conversions_failed",
    "skipped": "conversions_skipped",
    "unknown": "conversions_unknown",
}


def record_of(event: Envelope[ConversionReported], *, lead_id: str | None) -> dict[str, Any]:
    p = event.payload
    return {
        "source_event_id": p.source_event_id,
        "source_type": p.source_type,
        "event_name": p.event_name,
        "outcome": p.outcome,
        "reason": p.reason,
        "lead_id": lead_id,
        "deal_id": p.deal_id,
        "contract_id": p.contract_id,
        "value": p.value,
        "currency": p.currency,
        "reported_at": format_timestamp(p.reported_at),
        "at": int(p.reported_at.timestamp() * 1000),
    }


def conversion_reported(
    ks: Keyspace, event: Envelope[ConversionReported], *, lead_id: str | None
) -> list[Op]:
    """``lead_id`` is the payload's, else the lead of the deal (a sale reported without one)."""
    p, company = event.payload, event.company_id
    record = record_of(event, lead_id=lead_id)
    doc = json.dumps(record, sort_keys=True, separators=(",", ":"))
    ops: list[Op] = []
    if lead_id:
        ops.append(
            ["hnewest", ks.conversions(company, "lead", lead_id), p.source_event_id, record["at"], doc]
        )
    if p.deal_id:
        ops.append(
            ["hnewest", ks.conversions(company, "deal", p.deal_id), p.source_event_id, record["at"], doc]
        )
    # Counted at the time it was reported, not the time of the reported event: "what reached Meta today".
    ops += projections.count(ks, event, COUNTER[p.outcome])
    return ops


async def record_conversion(event: Envelope[ConversionReported], *, models: ReadModels, deals: Deals) -> None:
    lead_id = event.payload.lead_id
    if lead_id is None and event.payload.deal_id:
        deal = await deals.get(event.company_id, event.payload.deal_id)
        lead_id = None if deal is None else str(deal["lead_id"])
    await models.apply(event.company_id, event.id, conversion_reported(models.ks, event, lead_id=lead_id))


async def of(redis: Client, ks: Keyspace, company: str, kind: str, owner_id: str) -> list[dict[str, Any]]:
    """The newest outcome of each event reported for a lead or a deal, oldest report first."""
    raw = cast("dict[str, str]", await redis.hgetall(ks.conversions(company, kind, owner_id)))
    records = [json.loads(value) for value in raw.values()]
    return sorted(records, key=lambda r: (r["at"], r["source_event_id"]))
