"""``/v1/instances/{name}`` administration with the ``admin`` scope: pair the instance with WhatsApp (the QR
code and pairing code from Evolution's connect), refresh its status from Evolution, and unregister it. All
through evolution-manager, which holds the instances' Evolution tokens (backoffice-api never sees them).
Registering stays ``PUT /v1/instances/{name}`` (``instances:write``, routes/instances.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field
from servicekit import NotFound

from backoffice_api.apikeys import ApiKey
from backoffice_api.deps import PortsDep, requires
from backoffice_api.models import INSTANCE_NAME, InstancePublic
from backoffice_api.routes import COMMON_ERRORS, NOT_FOUND, UPSTREAM
from backoffice_api.routes.instances import instance_public

router = APIRouter(prefix="/v1/instances", tags=["admin"], responses=COMMON_ERRORS | UPSTREAM | NOT_FOUND)
Admin = Annotated[ApiKey, Depends(requires("admin"))]
Name = Annotated[str, Path(pattern=INSTANCE_NAME, examples=["vendas-01"])]


class Pairing(BaseModel):
    """What to show the person pairing the phone; ``open``: already paired, nothing to scan."""

    name: str = Field(examples=["vendas-01"])
    state: str = Field(description="`open` (paired) or `connecting` (scan or type)", examples=["connecting"])
    qr_code: str | None = Field(None, description="PNG data URL", examples=["data:image/png;base64,iVBORw0…"])
    qr_text: str | None = Field(None, description="The QR code's raw text", examples=["2@y8wXh…"])
    pairing_code: str | None = Field(
        None, description="To type on the phone instead; only when `number` was given", examples=["WZYEH1YY"]
    )
    count: int = Field(0, description="QR codes generated in this session (Evolution stops at its limit)")


class Refreshed(InstancePublic):
    state: str = Field(description="Evolution's connection state now", examples=["open"])
    changed: bool = Field(
        description="Whether it differed from the last recorded (instance.status published)"
    )


async def _mine(ports: PortsDep, company: str, name: str) -> None:
    row = await ports.evolution.instance(name)
    if row is None or row.get("company_id") != company:
        raise NotFound(f"instance {name} not found")


@router.post("/{name}/connect", summary="Pair the instance with WhatsApp: its QR code and pairing code")
async def connect_instance(
    name: Name,
    key: Admin,
    ports: PortsDep,
    number: Annotated[
        str | None,
        Query(pattern=r"^[1-9][0-9]{7,14}$", description="The phone (digits) to get a pairing code for"),
    ] = None,
) -> Pairing:
    """Safe to repeat: while pairing, the current QR code (it changes every ~45 s: poll). The outcome arrives
    as the instance's status (`GET /v1/instances/{name}`)."""
    answer = await ports.evolution.connect(name, company_id=key.company_id, number=number)
    if answer is None:
        raise NotFound(f"instance {name} not found")
    return Pairing.model_validate(answer)


@router.post("/{name}/refresh", summary="Ask Evolution for the instance's connection state now")
async def refresh_instance(name: Name, key: Admin, ports: PortsDep) -> Refreshed:
    await _mine(ports, key.company_id, name)
    answer = await ports.evolution.refresh(name)
    if answer is None:
        raise NotFound(f"instance {name} not found")
    public = instance_public(answer, await ports.models.instance_statuses(key.company_id))
    return Refreshed(
        **public.model_dump(), state=str(answer.get("state", "unknown")), changed=bool(answer.get("changed"))
    )


@router.delete("/{name}", summary="Unregister the instance (its webhooks are refused from then on)")
async def remove_instance(name: Name, key: Admin, ports: PortsDep) -> InstancePublic:
    """Evolution keeps the instance itself. A second call is 404."""
    removed = await ports.evolution.remove(name, company_id=key.company_id)
    if removed is None:
        raise NotFound(f"instance {name} not found")
    return instance_public(removed, {})
