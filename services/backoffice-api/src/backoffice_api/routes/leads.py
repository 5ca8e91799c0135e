"""Leads: filtered, cursor-paginated lists from the indexes; one lead with its timeline; the handoff flag."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any

from eventbus import envelope
from fastapi import APIRouter, Path, Query, Response
from servicekit import NotFound

from backoffice_api.deps import (
    InvalidParameter,
    LeadsRead,
    LeadsWrite,
    PortsDep,
    decode_cursor,
    encode_cursor,
)
from backoffice_api.models import (
    LEAD_ID,
    Handoff,
    HandoffCreate,
    LeadDetail,
    LeadSource,
    LeadsPage,
    LeadStatus,
)
from backoffice_api.routes import COMMON_ERRORS, NOT_FOUND, UPSTREAM
from backoffice_api.routes.lead_desk import owners

router = APIRouter(prefix="/v1/leads", tags=["leads"], responses=COMMON_ERRORS)
LeadId = Annotated[str, Path(pattern=LEAD_ID, examples=["lead_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1"])]


def ms(value: datetime | None) -> int | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


@lru_cache(maxsize=65_536)  # the same leads' timestamps, page after page: formatting showed in profiles
def when(value: str | None) -> str | None:
    """Stored milliseconds → the API's timestamp form (``2026-01-05T12:00:00.000Z``, as ``UtcTimestamp``)."""
    return envelope.format_timestamp(datetime.fromtimestamp(int(value) / 1000, UTC)) if value else None


def last_message(entry: dict[str, Any] | None) -> dict[str, Any] | None:
    """A contact timeline entry (``message.received``: ``text``; ``message.sent``: ``texts``) → ``LastMessage``."""
    if entry is None:
        return None
    text = entry.get("text") or " ".join(t for t in entry.get("texts") or [] if t) or None
    return {"direction": entry.get("direction", "in"), "text": text, "at": when(str(entry["at"]))}


def lead_public(
    row: dict[str, str],
    handoff: dict[str, Any] | None,
    owner: str | None = None,
    last: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "lead_id": row["lead_id"],
        "company_id": row["company_id"],
        "status": row.get("status", "new"),
        "source": row.get("source", "unknown"),
        "channel": row.get("channel", ""),
        "utm": json.loads(row.get("utm") or "{}"),
        "external_id": row.get("external_id") or None,
        "ctwa_clid": row.get("ctwa_clid") or None,
        "correlation_id": row.get("correlation_id") or None,
        "created_at": when(row.get("created_at")),
        "qualified_at": when(row.get("qualified_at")),
        "score": float(row["score"]) if row.get("score") else None,
        "criteria": json.loads(row.get("criteria") or "[]"),
        "summary": row.get("summary") or None,
        "deal_id": row.get("deal_id") or None,
        "contract_id": row.get("contract_id") or None,
        "contract_sent_at": when(row.get("contract_sent_at")),
        "won_at": when(row.get("won_at")),
        "handoff": handoff or {"active": False, "reason": None, "updated_at": None},
        "owner": owner,
        "last_message": last_message(last),
    }


@router.get("", response_model=LeadsPage, summary="List leads, newest first")
async def list_leads(
    key: LeadsRead,
    ports: PortsDep,
    status: LeadStatus | None = None,
    source: LeadSource | None = None,
    created_from: Annotated[datetime | None, Query(description="inclusive")] = None,
    created_to: Annotated[datetime | None, Query(description="exclusive")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    since, until = ms(created_from), ms(created_to)
    if since is not None and until is not None and since > until:
        raise InvalidParameter("created_from", "must not be after created_to")
    for name, value in (("created_from", since), ("created_to", until)):
        if value is not None and not 0 <= value < 10**16:
            raise InvalidParameter(name, "out of range")
    page = await ports.models.leads(
        key.company_id,
        status=status,
        source=source,
        created_from=since,
        created_to=until,
        after=decode_cursor(cursor),
        limit=limit,
    )
    # The hot path: the documents are our own projection, already in the API's shape, so they are not
    # validated field by field again (schemathesis checks this answer against LeadsPage).
    owned = await owners(ports, key.company_id, [row["lead_id"] for row in page.rows])
    lasts = await ports.models.last_messages(key.company_id, [row.get("external_id") for row in page.rows])
    items = [
        lead_public(
            row, json.loads(row["handoff"]) if "handoff" in row else None, owned.get(row["lead_id"]), last
        )
        for row, last in zip(page.rows, lasts, strict=True)
    ]
    body = json.dumps({"items": items, "next_cursor": encode_cursor(page.last)}, ensure_ascii=False)
    return Response(body, media_type="application/json")


@router.get("/{lead_id}", responses=NOT_FOUND, summary="One lead with its timeline, newest first")
async def get_lead(
    lead_id: LeadId,
    key: LeadsRead,
    ports: PortsDep,
    timeline_limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> LeadDetail:
    row = await _lead(ports, key.company_id, lead_id)
    handoffs = await _handoffs(ports, key.company_id, [lead_id])
    timeline = await ports.models.timeline(key.company_id, row, limit=timeline_limit)
    [last] = await ports.models.last_messages(key.company_id, [row.get("external_id")])
    entries = [
        {
            "event_id": e.pop("event_id"),
            "type": e.pop("type"),
            "at": datetime.fromtimestamp(e.pop("at") / 1000, UTC),
            "details": e,
        }
        for e in timeline
    ]
    owner = (await owners(ports, key.company_id, [lead_id])).get(lead_id)
    return LeadDetail.model_validate(
        {**lead_public(row, handoffs.get(lead_id), owner, last), "timeline": entries}
    )


@router.get(
    "/{lead_id}/handoff", responses=NOT_FOUND | UPSTREAM, summary="The handoff flag, as agent-runtime has it"
)
async def get_handoff(lead_id: LeadId, key: LeadsRead, ports: PortsDep) -> Handoff:
    await _lead(ports, key.company_id, lead_id)
    remote = await ports.agent.handoff(lead_id, company_id=key.company_id)
    state = _handoff_state(remote)
    await _mirror(ports, key.company_id, lead_id, state)
    return state


@router.put("/{lead_id}/handoff", responses=NOT_FOUND | UPSTREAM, summary="Hand the lead over to a human")
async def set_handoff(lead_id: LeadId, body: HandoffCreate, key: LeadsWrite, ports: PortsDep) -> Handoff:
    await _lead(ports, key.company_id, lead_id)
    remote = await ports.agent.set_handoff(lead_id, company_id=key.company_id, reason=body.reason)
    state = _handoff_state({"active": True, "reason": body.reason, **remote})
    await _mirror(ports, key.company_id, lead_id, state)
    return state


@router.delete(
    "/{lead_id}/handoff", responses=NOT_FOUND | UPSTREAM, summary="Give the lead back to the agent"
)
async def clear_handoff(lead_id: LeadId, key: LeadsWrite, ports: PortsDep) -> Handoff:
    await _lead(ports, key.company_id, lead_id)
    await ports.agent.clear_handoff(lead_id, company_id=key.company_id)
    state = Handoff(active=False, reason=None, updated_at=datetime.now(UTC))
    await _mirror(ports, key.company_id, lead_id, state)
    return state


async def _lead(ports: PortsDep, company: str, lead_id: str) -> dict[str, str]:
    row = await ports.models.lead(company, lead_id)
    if row is None:
        raise NotFound(f"lead {lead_id} not found")
    return row


def _handoff_state(remote: dict[str, Any] | None) -> Handoff:
    """agent-runtime's answer, read leniently: ``active`` (or ``handoff``), ``reason``, ``updated_at``."""
    if not remote:
        return Handoff(active=False)
    active = remote.get("active", remote.get("handoff", True))
    updated = remote.get("updated_at") or remote.get("since")
    try:
        updated_at = datetime.fromisoformat(str(updated).replace("Z", "+00:00")) if updated else None
    except ValueError:
        updated_at = None
    reason = remote.get("reason")
    return Handoff(
        active=bool(active),
        reason=str(reason)[:500] if reason else None,
        updated_at=updated_at or envelope.now(),
    )


async def _mirror(ports: PortsDep, company: str, lead_id: str, state: Handoff) -> None:
    await ports.models.redis.hset(ports.models.ks.handoff(company), lead_id, state.model_dump_json())


async def _handoffs(ports: PortsDep, company: str, lead_ids: list[str]) -> dict[str, dict[str, Any]]:
    if not lead_ids:
        return {}
    values = await ports.models.redis.hmget(ports.models.ks.handoff(company), lead_ids)
    return {lead: json.loads(v) for lead, v in zip(lead_ids, values, strict=True) if v}
