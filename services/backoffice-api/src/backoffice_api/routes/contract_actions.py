"""An operator's follow-ups on a sent contract, carried out by autentique-service (which holds the
Autentique account): cancel it, remind its signers, and the link to its signed PDF.

Cancel is idempotent (autentique-service records it first, so a signature can no longer win, then tells
Autentique; a repeat answers the cancelled contract). A reminder may message the signers, so it runs once
per `Idempotency-Key`: a retried request answers the first result, and one whose outcome autentique-service
could not tell is recorded there as unknown (`/v1/ops/outcomes`) and never sent again by a retry. Nothing is
published on the bus: the catalog has no cancellation event and no consumer needs one; the list and the
detail show the cancellation from this service's own record.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path
from pydantic import BaseModel, Field
from servicekit import Conflict, NotFound
from servicekit.upstream import UpstreamRefused
from ulid import ULID

from backoffice_api.deps import ContractsRead, ContractsWrite, PortsDep
from backoffice_api.models import CONTRACT_ID, ContractPublic, ErrorBody
from backoffice_api.routes import COMMON_ERRORS, NOT_FOUND, UPSTREAM
from backoffice_api.routes.contracts import contract_public

router = APIRouter(prefix="/v1/contracts", tags=["contracts"], responses=COMMON_ERRORS | UPSTREAM)
ContractId = Annotated[str, Path(pattern=CONTRACT_ID, examples=["ctr_01J8Z0R7E4T2W0V5X3Y8Z6A9B1"])]
NOT_OPEN: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "The contract is not awaiting signatures (signed, cancelled)"}
}


class Reminder(BaseModel):
    contract_id: str = Field(examples=["ctr_01J8Z0R7E4T2W0V5X3Y8Z6A9B1"])
    #: Signers asked to sign again: those who had not signed.
    signers: int = Field(examples=[1])


class SignedPdf(BaseModel):
    contract_id: str = Field(examples=["ctr_01J8Z0R7E4T2W0V5X3Y8Z6A9B1"])
    url: str = Field(
        description="Autentique's link to the signed PDF (re-ask for a fresh one; keep your own copy)",
        examples=["https://api.autentique.com.br/documentos/4f1e…/assinado.pdf"],
    )


async def _stored(ports: PortsDep, company: str, contract_id: str) -> dict[str, str]:
    stored = await ports.models.contract(company, contract_id)
    if stored is None:
        raise NotFound(f"contract {contract_id} not found")
    return stored


def _refused(exc: UpstreamRefused, contract_id: str) -> Exception:
    """autentique-service's 409 (signed, cancelled, being created) and 429 (reminded recently) are the
    operator's to act on; anything else stays an upstream failure (502)."""
    if exc.status == 409:
        return Conflict(f"contract {contract_id} is not awaiting signatures")
    if exc.status == 404:
        return NotFound(f"contract {contract_id} not found")
    return exc


@router.post(
    "/{contract_id}/cancel",
    responses=NOT_FOUND | NOT_OPEN,
    summary="Cancel a contract at Autentique (its signing links stop working)",
)
async def cancel_contract(contract_id: ContractId, key: ContractsWrite, ports: PortsDep) -> ContractPublic:
    """Safe to repeat: a cancelled contract answers as it is. 409 once it is signed. The deal is left where
    it is (move it to `lost` if the sale is off)."""
    stored = await _stored(ports, key.company_id, contract_id)
    try:
        live = await ports.autentique.cancel(contract_id)
    except UpstreamRefused as exc:
        raise _refused(exc, contract_id) from None
    at = datetime.now(UTC).isoformat()
    await ports.models.mark_cancelled(key.company_id, contract_id, at)
    return contract_public(live, stored=stored, live_signers=True, cancelled_at=at)


@router.post(
    "/{contract_id}/reminders",
    responses=NOT_FOUND
    | NOT_OPEN
    | {429: {"model": ErrorBody, "description": "Every pending signer was reminded recently"}},
    summary="Remind the signers who have not signed yet (Autentique resends the request)",
)
async def remind_signers(
    contract_id: ContractId,
    key: ContractsWrite,
    ports: PortsDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=200,
            description="A repeat with the same key answers the first reminder and sends nothing. Without "
            "one, each request is a new reminder (Autentique refuses one too soon after the last: 429).",
        ),
    ] = None,
) -> Reminder:
    await _stored(ports, key.company_id, contract_id)
    given = idempotency_key or f"auto-{ULID()}"
    try:
        answer = await ports.autentique.remind(contract_id, idempotency_key=f"{key.company_id}:{given}")
    except UpstreamRefused as exc:
        raise _refused(exc, contract_id) from None
    return Reminder(contract_id=contract_id, signers=int(answer.get("signers", 0)))


@router.get(
    "/{contract_id}/signed-pdf",
    responses=NOT_FOUND | {409: {"model": ErrorBody, "description": "The contract is not signed yet"}},
    summary="The link to the signed PDF, once the contract is signed",
)
async def signed_pdf(contract_id: ContractId, key: ContractsRead, ports: PortsDep) -> SignedPdf:
    stored = await _stored(ports, key.company_id, contract_id)
    if stored.get("status") != "signed":
        raise Conflict(f"contract {contract_id} is not signed yet")
    try:
        answer = await ports.autentique.signed_file(contract_id)
    except UpstreamRefused as exc:
        raise _refused(exc, contract_id) from None
    return SignedPdf(contract_id=contract_id, url=str(answer["url"]))
