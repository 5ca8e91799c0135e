"""Admin API: a lead's human handoff, read and set by backoffice-api (which must not read our keys).

``Authorization: Bearer <AGENT_ADMIN_TOKEN>`` on every route; a missing or wrong token is 401. Every route names
the company the caller acts for (``?company_id=``; for ``PUT`` the body's ``company_id`` too, as backoffice-api
sends it): a lead of another company is answered as an unknown one, 404, so that one company's operator cannot
read or silence another's leads, nor learn that an id exists.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from servicekit import NotFound, credentials

from agent_runtime.leads import LeadRef, Leads
from agent_runtime.ports import get_ports
from agent_runtime.store import Handoff, Store


class HandoffPublic(BaseModel):
    lead_id: str
    company_id: str
    active: bool
    reason: str | None = None
    requested_by: str | None = None
    since: datetime | None = None
    ended_at: datetime | None = None


class HandoffUpdate(BaseModel):
    company_id: str | None = Field(None, min_length=1, max_length=100)
    reason: str = Field("operator", min_length=1, max_length=200)
    requested_by: str = Field("backoffice", min_length=1, max_length=100)


async def _authorized(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
    credentials.caller(authorization, {"backoffice-api": get_ports(request).settings.admin_token})


router = APIRouter(prefix="/v1", dependencies=[Depends(_authorized)])


def _leads(request: Request) -> Leads:
    return get_ports(request).leads


def _store(request: Request) -> Store:
    return get_ports(request).store


LeadsDep = Annotated[Leads, Depends(_leads)]
StoreDep = Annotated[Store, Depends(_store)]
CompanyQuery = Annotated[str | None, Query(min_length=1, max_length=100)]


def _company(query: str | None, body: HandoffUpdate | None = None) -> str:
    company_id = query or (body.company_id if body is not None else None)
    if company_id is None:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("query", "company_id"), "msg": "Field required", "input": None}]
        )
    return company_id


async def lead_of_company(leads: Leads, lead_id: str, company_id: str) -> LeadRef:
    """The lead, or 404 when it is unknown or another company's (the same answer for both)."""
    return await _lead(leads, lead_id, company_id)


async def _lead(leads: Leads, lead_id: str, company_id: str) -> LeadRef:
    ref = await leads.find(lead_id)
    if ref is None or ref.company_id != company_id:
        raise NotFound(f"no lead {lead_id}")
    return ref


def _public(ref: LeadRef, handoff: Handoff | None) -> HandoffPublic:
    if handoff is None:
        return HandoffPublic(lead_id=ref.lead_id, company_id=ref.company_id, active=False)
    return HandoffPublic.model_validate(handoff.model_dump())


@router.get("/leads/{lead_id}/handoff")
async def get_handoff(
    lead_id: str, leads: LeadsDep, store: StoreDep, company_id: CompanyQuery = None
) -> HandoffPublic:
    ref = await _lead(leads, lead_id, _company(company_id))
    return _public(ref, await store.handoff(ref.key))


@router.put("/leads/{lead_id}/handoff")
async def start_handoff(
    lead_id: str,
    leads: LeadsDep,
    store: StoreDep,
    body: HandoffUpdate | None = None,
    company_id: CompanyQuery = None,
) -> HandoffPublic:
    """A person takes the conversation over: the agent stops answering this lead. Idempotent."""
    ref = await _lead(leads, lead_id, _company(company_id, body))
    body = body or HandoffUpdate()
    current = await store.handoff(ref.key)
    if current is not None and current.active:
        return _public(ref, current)
    handoff = Handoff(
        lead_id=lead_id,
        company_id=ref.company_id,
        active=True,
        reason=body.reason,
        requested_by=body.requested_by,
        since=datetime.now(UTC),
    )
    await store.set_handoff(ref.key, handoff)
    return _public(ref, handoff)


@router.delete("/leads/{lead_id}/handoff")
async def end_handoff(
    lead_id: str, leads: LeadsDep, store: StoreDep, company_id: CompanyQuery = None
) -> HandoffPublic:
    """The agent answers this lead again; the record stays, with ``ended_at``. Idempotent."""
    ref = await _lead(leads, lead_id, _company(company_id))
    current = await store.handoff(ref.key)
    if current is None or not current.active:
        return _public(ref, current)
    ended = current.model_copy(update={"active": False, "ended_at": datetime.now(UTC)})
    await store.set_handoff(ref.key, ended)
    return _public(ref, ended)
