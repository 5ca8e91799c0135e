"""``GET /v1/leads/names?q=``: leads found by their contact's WhatsApp name, a word prefix at a time
(``lead_names.py``). Mounted before ``routes/leads.py``, as ``lead_desk`` is: ``/v1/leads/names`` would
otherwise reach ``/v1/leads/{lead_id}`` and fail its pattern."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from backoffice_api import lead_names
from backoffice_api.deps import LeadsRead, PortsDep
from backoffice_api.routes import COMMON_ERRORS

router = APIRouter(prefix="/v1/leads", tags=["leads"], responses=COMMON_ERRORS)


class LeadNameMatch(BaseModel):
    lead_id: str
    external_id: str
    #: The name as the contact wrote it on WhatsApp.
    name: str


class LeadNameMatches(BaseModel):
    items: list[LeadNameMatch] = Field(description="In name order; at most `limit`")


@router.get("/names", summary="Find leads by their contact's name (word prefixes, accents ignored)")
async def find_by_name(
    key: LeadsRead,
    ports: PortsDep,
    q: Annotated[str, Query(min_length=2, max_length=100, examples=["maria sou"])],
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
) -> LeadNameMatches:
    redis, ks = ports.models.redis, ports.models.ks
    found = await lead_names.search(redis, ks, key.company_id, q, limit=limit)
    contacts = list(found)
    leads = await redis.hmget(ks.lead_by_external(key.company_id), contacts) if contacts else []
    return LeadNameMatches(
        items=[
            LeadNameMatch(
                lead_id=lead if isinstance(lead, str) else lead.decode(), external_id=c, name=found[c]
            )
            for c, lead in zip(contacts, leads, strict=True)
            if lead  # a name seen before its lead was made: found once the lead exists
        ]
    )
