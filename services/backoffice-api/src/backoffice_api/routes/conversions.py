"""What was reported to Meta for a lead or a deal, and its outcome (``conversions.py``, from facebook-capi's
``conversion.reported`` events). Read with the lead's or the deal's own scope; another company's id is 404."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field
from servicekit import NotFound

from backoffice_api import conversions
from backoffice_api.deps import DealsRead, LeadsRead, PortsDep
from backoffice_api.models import DEAL_ID, LEAD_ID
from backoffice_api.routes import COMMON_ERRORS, NOT_FOUND

router = APIRouter(prefix="/v1", tags=["conversions"], responses=COMMON_ERRORS | NOT_FOUND)
LeadId = Annotated[str, Path(pattern=LEAD_ID, examples=["lead_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1"])]
DealId = Annotated[str, Path(pattern=DEAL_ID, examples=["deal_01J8Z0Q6D3S1V9T4W2X7Y5Z8A0"])]


class ConversionPublic(BaseModel):
    """The newest outcome facebook-capi reported for one event of the lead or deal."""

    source_event_id: str = Field(description="the catalog event reported (its `id`)")
    source_type: Literal["lead.created", "lead.qualified", "contract.signed"]
    event_name: str | None = Field(description="the Meta event sent (`Lead`, `QualifiedLead`, `Purchase`…)")
    outcome: Literal["sent", "dry_run", "failed", "skipped", "unknown"] = Field(
        description="sent: Meta accepted it; failed: refused for good (reason); skipped: not sent on purpose "
        "(reason: no_consent, no_capi_settings, capi_disabled); unknown: it may have reached Meta, an operator "
        "decides (`/v1/outcomes`); dry_run: recorded instead of sent"
    )
    reason: str | None = Field(
        examples=["no_consent: the contact refused sharing their data with ad platforms"]
    )
    lead_id: str | None
    deal_id: str | None
    contract_id: str | None
    value: float | None
    currency: str | None
    reported_at: datetime


class ConversionsList(BaseModel):
    """Oldest report first; a later outcome of the same event replaces the earlier one."""

    items: list[ConversionPublic]


@router.get("/leads/{lead_id}/conversions", summary="What was reported to Meta for a lead, and the outcome")
async def lead_conversions(lead_id: LeadId, key: LeadsRead, ports: PortsDep) -> ConversionsList:
    if await ports.models.lead(key.company_id, lead_id) is None:
        raise NotFound(f"lead {lead_id} not found")
    rows = await conversions.of(ports.models.redis, ports.models.ks, key.company_id, "lead", lead_id)
    return ConversionsList.model_validate({"items": rows})


@router.get(
    "/deals/{deal_id}/conversions", summary="What was reported to Meta for a deal's sale, and the outcome"
)
async def deal_conversions(deal_id: DealId, key: DealsRead, ports: PortsDep) -> ConversionsList:
    if await ports.deals.get(key.company_id, deal_id) is None:
        raise NotFound(f"deal {deal_id} not found")
    rows = await conversions.of(ports.models.redis, ports.models.ks, key.company_id, "deal", deal_id)
    return ConversionsList.model_validate({"items": rows})
