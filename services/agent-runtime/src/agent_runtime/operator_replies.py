"""An operator's reply to a lead, sent through backoffice-api: ``message.sent`` with ``author: operator``.

agent-runtime publishes it because it is ``message.sent``'s producer (the catalog's table); backoffice-api
asks over HTTP. The request carries the operator's ``Idempotency-Key``, from which the event id, its
correlation id and the bus's dedupe key are derived: a retried request (or a retry of this call) publishes
the same event once, and evolution-manager's delivery records (``correlation_id + index``) send it once even
after the bus forgot the dedupe key.

The agent and an operator must not both answer: a lead not handed off yet is handed off first (reason
``operator_reply``), then the reply is published.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from eventbus import Bus, Envelope, MessageSent, OutgoingMessage
from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field

from agent_runtime import SERVICE, api
from agent_runtime.ports import get_ports
from agent_runtime.store import Handoff

router = APIRouter(prefix="/v1", dependencies=[Depends(api._authorized)])
_NAMESPACE = uuid.UUID("5b0e6f1c-2d9a-4e53-9c1e-8a7f3d2b6c41")
REASON = "operator_reply"


class OperatorReply(BaseModel):
    company_id: str = Field(min_length=1, max_length=100)
    instance_id: str = Field(min_length=1, max_length=128)
    text: str = Field(min_length=1, max_length=4096)
    idempotency_key: str = Field(min_length=1, max_length=255)
    requested_by: str = Field("backoffice", min_length=1, max_length=100)


class OperatorReplyPublished(BaseModel):
    event_id: str
    correlation_id: str
    duplicate: bool
    handed_off: bool = Field(description="Whether this call handed the lead off first")


def derived_id(prefix: str, company_id: str, lead_id: str, idempotency_key: str) -> str:
    """``evt_``/``cor_`` + a UUID of the request's identity (the envelope accepts a prefixed UUID)."""
    name = "\0".join((company_id, lead_id, idempotency_key))
    return f"{prefix}_{uuid.uuid5(_NAMESPACE, name)}"


def _bus(request: Request) -> Bus:
    return get_ports(request).bus


@router.post("/leads/{lead_id}/messages", status_code=202)
async def send_operator_reply(
    lead_id: Annotated[str, Path(min_length=1, max_length=128)],
    body: OperatorReply,
    leads: api.LeadsDep,
    store: api.StoreDep,
    bus: Annotated[Bus, Depends(_bus)],
) -> OperatorReplyPublished:
    """Publish the operator's text to the lead as ``message.sent`` (``author: operator``), once per key."""
    ref = await api.lead_of_company(leads, lead_id, body.company_id)
    handed_off = False
    current = await store.handoff(ref.key)
    if current is None or not current.active:
        await store.set_handoff(
            ref.key,
            Handoff(
                lead_id=lead_id,
                company_id=ref.company_id,
                active=True,
                reason=REASON,
                requested_by=body.requested_by,
                since=datetime.now(UTC),
            ),
        )
        handed_off = True
    payload = MessageSent(
        instance_id=body.instance_id,
        to=ref.lead_external_id.removeprefix("wa:"),
        messages=[OutgoingMessage(text=body.text)],
        author="operator",
    )
    correlation_id = derived_id("cor", ref.company_id, lead_id, body.idempotency_key)
    event = Envelope.new(
        payload, source=SERVICE, company_id=ref.company_id, correlation_id=correlation_id
    ).model_copy(update={"id": derived_id("evt", ref.company_id, lead_id, body.idempotency_key)})
    published = await bus.publish(event, dedupe_key=f"operator-reply:{event.id}")
    return OperatorReplyPublished(
        event_id=published.event_id,
        correlation_id=correlation_id,
        duplicate=published.duplicate,
        handed_off=handed_off,
    )
