"""Side effects whose outcome is unknown (a WhatsApp text, a Meta event, an Autentique document that may or may
not have gone out), read from the services that own them, and an operator's decision on one: ``delivered``
(mark it sent) or ``resend`` (send it again). The decision is recorded by the owner with the API key that made
it; a key sees and resolves only its own company's.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from eventbus import DeadLetters
from fastapi import APIRouter, Path, Request
from pydantic import BaseModel
from servicekit import NotFound

from backoffice_api.clients.outcomes import OutcomeOwners
from backoffice_api.deps import OpsAdmin
from backoffice_api.routes import COMMON_ERRORS, NOT_FOUND

router = APIRouter(prefix="/v1/ops/outcomes", tags=["operations"], responses=COMMON_ERRORS)
Service = Annotated[str, Path(pattern=r"^(evolution-manager|facebook-capi|autentique-service)$")]
Segment = Annotated[str, Path(pattern=r"^[A-Za-z0-9_:.-]{1,200}$")]


class UnknownOutcome(BaseModel):
    service: str
    effect: str
    id: str
    event_id: str
    channel: str
    answer: str
    at: float


class UnknownOutcomes(BaseModel):
    items: list[UnknownOutcome]
    #: Owners that did not answer: their outcomes are missing from ``items``.
    unavailable: list[str]


class Decision(BaseModel):
    decision: Literal["delivered", "resend"]


def _owners(request: Request) -> OutcomeOwners:
    owners: OutcomeOwners = request.app.state.ports.outcome_owners
    return owners


def _mine(rows: list[dict[str, Any]], company_id: str) -> list[dict[str, Any]]:
    return [row for row in rows if row.get("company_id") == company_id]


@router.get("", summary="This company's side effects whose outcome is unknown, oldest first per service")
async def list_unknown(key: OpsAdmin, request: Request) -> UnknownOutcomes:
    rows, unavailable = await _owners(request).unknown()
    return UnknownOutcomes(
        items=[UnknownOutcome(**row) for row in _mine(rows, key.company_id)], unavailable=unavailable
    )


@router.post(
    "/{service}/{effect}/{effect_id}/resolve",
    responses=NOT_FOUND,
    summary="Decide an unknown outcome: delivered (mark sent) or resend; the event's dead letter is replayed",
)
async def resolve(
    service: Service, effect: Segment, effect_id: Segment, body: Decision, key: OpsAdmin, request: Request
) -> dict[str, Any]:
    owners = _owners(request)
    rows, _ = await owners.unknown()
    if not any(
        r["service"] == service and r["effect"] == effect and r["id"] == effect_id
        for r in _mine(rows, key.company_id)
    ):
        raise NotFound(f"no unknown outcome {service}/{effect}/{effect_id}")
    # The key id, never a name: who decided is logged by the owner.
    result: dict[str, Any] = await owners.resolve(
        service, effect, effect_id, decision=body.decision, operator=f"key:{key.key_id}"
    )
    # The owner recorded the decision and names the event's dead letter; backoffice-api replays it with its
    # operator's rights, so what the event still had to do goes on (the owner's Redis user may not append to
    # a stream it only consumes).
    letter = result.get("dead_letter")
    if letter:
        ports = request.app.state.ports
        letters = DeadLetters(ports.bus, letter["channel"], letter["group"])
        result["replayed_entry"] = await letters.replay(letter["id"])
    return result
