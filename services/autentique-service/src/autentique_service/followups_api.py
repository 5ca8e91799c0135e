"""Routes for an operator's follow-ups on a sent contract (followups.py), behind the same service token as
the contracts API (backoffice-api calls them for its operators)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header

from autentique_service.api import PortsDep, ServiceCaller
from autentique_service.followups import FollowUps, Reminded, SignedFile
from autentique_service.idempotency import HEADER
from autentique_service.models import ContractPublic

router = APIRouter(prefix="/v1/contracts/{contract_id}", dependencies=[ServiceCaller])


async def _followups(ports: PortsDep) -> FollowUps:
    return ports.followups


FollowUpsDep = Annotated[FollowUps, Depends(_followups)]


@router.post("/cancel")
async def cancel_contract(contract_id: str, followups: FollowUpsDep) -> ContractPublic:
    """Cancel at Autentique (deadline now, then delete); 409 once signed. Repeats answer the same contract."""
    return (await followups.cancel(contract_id)).public()


@router.post("/reminders")
async def remind_signers(
    contract_id: str,
    followups: FollowUpsDep,
    idempotency_key: Annotated[str, Header(alias=HEADER, min_length=1, max_length=255)],
) -> Reminded:
    """Ask Autentique to resend the signing request to every signer who has not signed, once per
    `Idempotency-Key`; 429 when all of them were reminded recently."""
    return await followups.remind(contract_id, idempotency_key)


@router.get("/signed-file")
async def signed_file(contract_id: str, followups: FollowUpsDep) -> SignedFile:
    """The signed PDF's URL as Autentique lists it now; 409 until the contract is signed."""
    return await followups.signed_file(contract_id)
