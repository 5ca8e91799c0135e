"""Contracts: the list from the projection, and one contract with its signers' progress."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from servicekit import NotFound, UpstreamUnavailable

from backoffice_api.deps import ContractsRead, PortsDep, decode_cursor, encode_cursor
from backoffice_api.models import CONTRACT_ID, ContractPublic, ContractsPage
from backoffice_api.routes import COMMON_ERRORS, NOT_FOUND

router = APIRouter(prefix="/v1/contracts", tags=["contracts"], responses=COMMON_ERRORS)


def _ms(value: str | None) -> datetime | None:
    return datetime.fromtimestamp(int(value) / 1000, UTC) if value else None


def contract_public(
    live: dict[str, Any] | None,
    *,
    stored: dict[str, str] | None,
    live_signers: bool,
    cancelled_at: str | None = None,
) -> ContractPublic:
    """Merge autentique-service's answer (signers, document) with the projection (events' facts). The list
    and the detail both come through here, so they agree: ``contract.signed`` means every signer signed
    (autentique-service publishes it only then), whatever signer progress was last recorded."""
    stored = stored or {}
    live = live or {}
    signers = live.get("signers")
    if signers is None:
        signers = json.loads(stored.get("signers") or "[]")
    status = stored.get("status") or live.get("status") or "pending"
    if stored.get("status") == "signed" or live.get("status") == "signed":
        status = "signed"
        at = _ms(stored.get("signed_at"))
        signers = [
            {**s, "status": "signed", "signed_at": s.get("signed_at") or (at.isoformat() if at else None)}
            for s in signers
        ]
    elif cancelled_at is not None or live.get("status") == "cancelled":
        status = "cancelled"
    signed = sum(1 for s in signers if s.get("status") == "signed" or s.get("signed_at"))
    value = stored.get("value", live.get("value"))
    return ContractPublic.model_validate(
        {
            "contract_id": live.get("contract_id") or stored["contract_id"],
            "deal_id": live.get("deal_id") or stored.get("deal_id", ""),
            "lead_id": live.get("lead_id") or stored.get("lead_id") or None,
            "company_id": live.get("company_id") or stored.get("company_id", ""),
            "document_id": live.get("document_id") or stored.get("document_id") or None,
            "status": status,
            "value": float(value) if value is not None else None,
            "currency": stored.get("currency") or live.get("currency"),
            "created_at": _ms(stored.get("created_at")) or live.get("created_at"),
            "signed_at": _ms(stored.get("signed_at")),
            "signers": signers,
            "progress": {"signed": signed, "total": len(signers)},
            "signers_live": live_signers,
        }
    )


@router.get("", summary="List contracts, newest first")
async def list_contracts(
    key: ContractsRead,
    ports: PortsDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ContractsPage:
    page = await ports.models.contracts(key.company_id, after=decode_cursor(cursor), limit=limit)
    cancelled = await ports.models.cancellations(key.company_id, [r["contract_id"] for r in page.rows])
    items = [
        contract_public(None, stored=row, live_signers=False, cancelled_at=cancelled.get(row["contract_id"]))
        for row in page.rows
    ]
    return ContractsPage(items=items, next_cursor=encode_cursor(page.last))


@router.get("/{contract_id}", responses=NOT_FOUND, summary="One contract with its signers' progress")
async def get_contract(
    contract_id: Annotated[str, Path(pattern=CONTRACT_ID)], key: ContractsRead, ports: PortsDep
) -> ContractPublic:
    stored = await ports.models.contract(key.company_id, contract_id)
    if stored is None:
        raise NotFound(f"contract {contract_id} not found")
    try:
        live: dict[str, Any] | None = await ports.autentique.contract(contract_id)
    except UpstreamUnavailable:
        # Signer progress as last recorded beats no answer while autentique-service is down.
        live = None
    if live is not None and live.get("company_id") not in (None, key.company_id):
        live = None  # never show another company's document, whatever the upstream answers
    if live is not None and isinstance(live.get("signers"), list):
        await ports.models.remember_signers(key.company_id, contract_id, live["signers"])
    cancelled = await ports.models.cancellations(key.company_id, [contract_id])
    return contract_public(
        live, stored=stored, live_signers=live is not None, cancelled_at=cancelled.get(contract_id)
    )
