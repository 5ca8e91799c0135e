"""Deals, and the contract of a deal (made by autentique-service, idempotent on the deal)."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Response
from servicekit import NotFound

from backoffice_api.clients.autentique import IdempotencyKeyReused
from backoffice_api.deps import ContractsWrite, DealsRead, DealsWrite, InvalidParameter, PortsDep
from backoffice_api.models import DEAL_ID, ContractCreate, ContractPublic, DealCreate, DealPublic
from backoffice_api.routes import COMMON_ERRORS, NOT_FOUND, UPSTREAM
from backoffice_api.routes.contracts import contract_public

router = APIRouter(prefix="/v1/deals", tags=["deals"], responses=COMMON_ERRORS)
DealId = Annotated[str, Path(pattern=DEAL_ID)]


@router.post("", status_code=201, responses=NOT_FOUND, summary="Create a deal for a lead")
async def create_deal(body: DealCreate, key: DealsWrite, ports: PortsDep) -> DealPublic:
    lead = await ports.models.lead(key.company_id, body.lead_id)
    if lead is None:
        raise NotFound(f"lead {body.lead_id} not found")
    deal = await ports.deals.create(
        key.company_id,
        lead_id=body.lead_id,
        value=body.value,
        currency=body.currency,
        event=body.event.model_dump(exclude_none=True),
        correlation_id=lead.get("correlation_id") or None,
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
    deal_id: DealId,
    body: ContractCreate,
    key: ContractsWrite,
    ports: PortsDep,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=200,
            description="Optional: a repeat with the same key answers the first request's contract for 24 h. "
            "Without one, a repeat of the same request is recognised as long as the deal's contract is "
            "the same (a re-issue retried after a timeout makes one new contract).",
        ),
    ] = None,
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
        **await _trace(ports, key.company_id, deal),
    }
    try:
        contract, created = await ports.autentique.create_contract(
            request, idempotency_key=_idempotency_key(key.company_id, deal, request, idempotency_key)
        )
    except IdempotencyKeyReused as exc:
        raise InvalidParameter("Idempotency-Key", str(exc)) from exc
    await ports.models.remember_contract(key.company_id, contract)
    await ports.deals.attach_contract(key.company_id, deal_id, contract["contract_id"])
    response.status_code = 201 if created else 200
    return contract_public(contract, stored=None, live_signers=True)


async def _trace(ports: PortsDep, company: str, deal: dict[str, Any]) -> dict[str, str]:
    """The catalog's traceability for contract.created: the lead's correlation id (kept with the deal; the
    lead's for deals made before deals kept it) and, as its cause, the lead's latest event we projected:
    its kept ``lead.qualified`` if it was qualified, else its ``lead.created``."""
    lead = await ports.models.lead(company, deal["lead_id"]) or {}
    trace = {
        "correlation_id": deal.get("correlation_id") or lead.get("correlation_id"),
        "causation_id": lead.get("qualified_event_id") or lead.get("created_event_id"),
    }
    return {name: value for name, value in trace.items() if value}


def _idempotency_key(company: str, deal: dict[str, Any], request: dict[str, Any], given: str | None) -> str:
    """What autentique-service dedupes on: the operator's key, else the request itself together with the
    contract it would supersede, so that a retry (ours after a timeout, or the operator's) of the same
    request is one contract, while a re-issue once the deal has the new contract is a new one."""
    if given is not None:
        basis = ["operator", company, deal["deal_id"], given]
    else:
        supersedes = deal.get("contract_id") or ""
        # Without the traceability ids, as autentique-service's fingerprint: the lead's latest event may change
        # between a request and the operator's repeat of it.
        asked = {k: v for k, v in request.items() if k not in ("correlation_id", "causation_id")}
        basis = ["derived", company, deal["deal_id"], supersedes, json.dumps(asked, sort_keys=True)]
    return hashlib.sha256("\0".join(basis).encode()).hexdigest()


async def _deal(ports: PortsDep, company: str, deal_id: str) -> dict[str, Any]:
    deal = await ports.deals.get(company, deal_id)
    if deal is None:
        raise NotFound(f"deal {deal_id} not found")
    return deal
