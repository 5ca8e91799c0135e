"""``/ops/outcomes``: the unknown outcomes of this service's side effects, and an operator's decision on one.

Mounted by each service that owns records (servicekit.outcomes), behind that service's own credential: the
records are its keys, and services never read each other's (backoffice-api and ``wolfgang`` call this).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from servicekit.outcomes import Decision, Desk


class Resolution(BaseModel):
    decision: Decision
    #: Who decided (an operator's name or key id), logged with the decision.
    operator: str = Field(min_length=1, max_length=120, pattern=r"^[\w.@:+-]+$")


def _desk(request: Request) -> Desk:
    desk: Desk = request.app.state.outcomes
    return desk


DeskDep = Annotated[Desk, Depends(_desk)]


def router(auth: Callable[..., Any]) -> APIRouter:
    routes = APIRouter(prefix="/ops/outcomes", dependencies=[Depends(auth)], tags=["outcomes"])

    @routes.get("")
    async def list_unknown(desk: DeskDep) -> list[dict[str, Any]]:
        """Side effects that may or may not have happened, oldest first; each has a dead letter."""
        return [asdict(u) for u in await desk.unknown()]

    @routes.post("/{effect}/{effect_id}/resolve")
    async def resolve(effect: str, effect_id: str, body: Resolution, desk: DeskDep) -> dict[str, Any]:
        """``delivered``: mark it sent; ``resend``: send it again. Either way its dead letter is replayed."""
        return await desk.resolve(effect, effect_id, body.decision, operator=body.operator)

    return routes
