"""Admin routes over one registered instance beyond its registration (api.py): pair it with WhatsApp (the QR
code and pairing code of Evolution's connect, reference §9) and unregister it. Same credentials as the
registry's other admin routes; backoffice-api passes its operator's ``company_id``, and an instance of
another company is answered as unknown (404)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from servicekit import upstream

from evolution_manager.api import InstancePublic, Name, PortsDep, require_admin
from evolution_manager.errors import UnknownInstance
from evolution_manager.statuses import api_key_for

router = APIRouter(prefix="/v1/instances", tags=["instances"], dependencies=[Depends(require_admin)])
CompanyId = Annotated[str | None, Query(max_length=64, description="Only this company's instance")]


class Pairing(BaseModel):
    """What to show the person pairing the phone. ``state`` ``open``: already connected, nothing to scan."""

    name: str
    state: str = Field(description="open (already paired) or connecting (scan the QR code, or type the code)")
    qr_code: str | None = Field(None, description="The QR code as a PNG data URL")
    qr_text: str | None = Field(None, description="The QR code's raw text (render it yourself)")
    pairing_code: str | None = Field(None, description="Typed on the phone instead; only when `number` given")
    count: int = Field(
        0, description="QR codes generated in this session (Evolution gives up after its limit)"
    )


@router.post("/{name}/connect")
async def connect_instance(
    name: Name,
    ports: PortsDep,
    company_id: CompanyId = None,
    number: Annotated[str | None, Query(pattern=r"^[1-9][0-9]{7,14}$", description="Phone, digits")] = None,
) -> Pairing:
    """Start (or continue) pairing at Evolution. Safe to repeat: while pairing, Evolution answers the current
    QR code; once open, the state. No event is published here: the pairing's outcome arrives as Evolution's
    `connection.update` webhook (→ `instance.status`)."""
    instance = await ports.registry.get(name)
    if company_id is not None and instance.company_id != company_id:
        raise UnknownInstance(name)
    api_key = api_key_for(instance, ports.settings.api_key)
    body: dict[str, Any] = await upstream.with_retries(
        lambda: ports.evolution.connect(name, api_key=api_key, number=number), attempts=2
    )
    if isinstance(body.get("instance"), dict):
        return Pairing(name=name, state=str(body["instance"].get("state") or "open"))
    return Pairing(
        name=name,
        state="connecting",
        qr_code=body.get("base64"),
        qr_text=body.get("code"),
        pairing_code=body.get("pairingCode"),
        count=int(body.get("count") or 0),
    )


@router.delete("/{name}")
async def remove_instance(name: Name, ports: PortsDep, company_id: CompanyId = None) -> InstancePublic:
    """Unregister the instance: its webhooks are refused from then on. Evolution keeps it (delete it there
    yourself if it is not to be registered again). A second call is 404."""
    removed = await ports.registry.remove(name, company_id=company_id)
    return InstancePublic(**removed.public())
