"""Deals, and the contract of a deal (made by autentique-service, idempotent on the deal)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from servicekit import NotFound

from backoffice_api.deps import ContractsWrite, DealsRead, DealsWrite, PortsDep
from backoffice_api.models import DEAL_ID, ContractCreate, ContractPublic, DealCreate, DealPublic
from backoffice_api.routes import COMMON_ERRORS, NOT_FOUND, UPSTREAM
from backoffice_api.routes.contracts import contract_public

router = APIRouter(prefix="/v1/deals", tags=["deals"], responses=COMMON_ERRORS)
DealId = Annotated[str, Path(pattern=DEAL_ID)]


@router.post("", status_code=201, responses=NOT_FOUND, summary="Create a deal for a lead")
async def create_deal(body: DealCreate, key: DealsWrite, ports: PortsDep) -> DealPublic:
    if await ports.models.lead(key.company_id, body.lead_id) is None:
        raise NotFound(f"lead {body.lead_id} not found")
    deal = await ports.deals.create(
        key.company_id,
        lead_id=body.lead_id,
        value=body.value,
        currency=body.currency,
        event=body.event.model_dump(exclude_none=True),
    )
    return DealPublic.model_validate(deal)


@router.get("/{deal_id}", responses=NOT_FOUND, summary="One deal")
async def get_deal(deal_id: DealId, key: DealsRead, ports: PortsDep) -> DealPublic:
    return DealPublic.model_validate(await _deal(ports, key.company_id, deal_id))


@router.post(
    "/{deal_id}/contract",
    status_code=201,
    responses={200: {"model": ContractPublic, "description": "The deal already had this contract"}}
    | NOT_FOUND
    | UPSTREAM,
    summary="Ask autentique-service for the deal's contract (idempotent on the deal)",
)
async def create_contract(
    deal_id: DealId, body: ContractCreate, key: ContractsWrite, ports: PortsDep, response: Response
) -> ContractPublic:
    deal = await _deal(ports, key.company_id, deal_id)
    request: dict[str, Any] = {
        "deal_id": deal["deal_id"],
        "lead_id": deal["lead_id"],
        "company_id": key.company_id,
        "value": deal["value"],
        "currency": deal["currency"],
        "event": deal.get("event") or {},
        "signers": [s.model_dump(exclude_none=True) for s in body.signers],
        "reissue": body.reissue,
    }
    contract, created = await ports.autentique.create_contract(request)
    await ports.models.remember_contract(key.company_id, contract)
    await ports.deals.attach_contract(key.company_id, deal_id, contract["contract_id"])
    response.status_code = 201 if created else 200
    return contract_public(contract, stored=None, live_signers=True)


async def _deal(ports: PortsDep, company: str, deal_id: str) -> dict[str, Any]:
    deal = await ports.deals.get(company, deal_id)
    if deal is None:
        raise NotFound(f"deal {deal_id} not found")
    return deal
