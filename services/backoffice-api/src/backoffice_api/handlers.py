"""One reaction per catalog channel: record the event in the read models, once (keyed by its id); a contract's
events also move its deal (made → ``contract_sent``, signed → ``won``), once (by the deal's stage).

The bus already skips events it has marked processed; the applied marker written in the same Lua step as the
projection closes the remaining window (a crash between our write and the bus's acknowledgement) and makes a
rebuild's replay safe on its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import structlog
from eventbus import ContractCreated, ContractSigned, Envelope

from backoffice_api import conversions, projections
from backoffice_api.deals import Actor, Deals
from backoffice_api.store import ReadModels

log = structlog.get_logger("backoffice_api.handlers")

Reaction = Callable[..., Awaitable[None]]


async def _apply(models: ReadModels, event: Envelope[Any], ops: list[projections.Op]) -> None:
    applied = await models.apply(event.company_id, event.id, ops)
    log.debug("projection_applied" if applied else "projection_already_applied")


def _recorder(project: projections.Projector) -> Reaction:
    """lead.created, lead.qualified, instance.status, message.received, message.sent: one projection each."""

    async def record_event(event: Envelope[Any], *, models: ReadModels, deals: Deals) -> None:
        await _apply(models, event, project(models.ks, event))

    return record_event


async def _lead_of(event: Envelope[ContractCreated] | Envelope[ContractSigned], deals: Deals) -> str | None:
    # contract.* carry lead_id optionally; deals made through this API know their lead.
    if event.payload.lead_id:
        return event.payload.lead_id
    deal = await deals.get(event.company_id, event.payload.deal_id)
    return None if deal is None else str(deal["lead_id"])


def _cause(event: Envelope[Any]) -> Actor:
    return Actor("event", event.id, event.type)


async def record_contract_created(
    event: Envelope[ContractCreated], *, models: ReadModels, deals: Deals
) -> None:
    lead_id = await _lead_of(event, deals)
    await _apply(models, event, projections.contract_created(models.ks, event, lead_id=lead_id))
    await deals.follow_contract(event.company_id, event.payload.deal_id, "contract_sent", by=_cause(event))


async def record_contract_signed(
    event: Envelope[ContractSigned], *, models: ReadModels, deals: Deals
) -> None:
    lead_id = await _lead_of(event, deals)
    await _apply(models, event, projections.contract_signed(models.ks, event, lead_id=lead_id))
    # After the projection: a crash in between redelivers the event, the projection is then a no-op and the
    # deal still moves. A replay finds the deal won already and leaves it (deals.follow_contract).
    await deals.follow_contract(event.company_id, event.payload.deal_id, "won", by=_cause(event))


#: The handler of each channel backoffice-api consumes, keyed by catalog type; ``rebuild`` replays these.
REACTIONS: dict[str, Reaction] = {
    "lead.created": _recorder(projections.lead_created),
    "lead.qualified": _recorder(projections.lead_qualified),
    "contract.created": record_contract_created,
    "contract.signed": record_contract_signed,
    "instance.status": _recorder(projections.instance_status),
    "message.received": _recorder(projections.message_received),
    "message.sent": _recorder(projections.message_sent),
    "conversion.reported": conversions.record_conversion,
}


def reactions(models: ReadModels, deals: Deals) -> dict[str, Callable[[Envelope[Any]], Awaitable[None]]]:
    """``REACTIONS`` bound to their collaborators."""
    return {channel: partial(react, models=models, deals=deals) for channel, react in REACTIONS.items()}
