"""An operator's reply to a lead: ``POST /v1/leads/{lead_id}/messages``.

backoffice-api does not publish ``message.sent`` (agent-runtime is its producer, catalog table): it asks
agent-runtime over HTTP, which derives the event and its correlation id from the company, the lead and the
``Idempotency-Key``, so a retry publishes and sends once whatever fails in between. Here the first answer is
kept a day with the request's fingerprint: a repeat answers it again (without calling anyone); the same key
with another lead or text is 422 naming ``Idempotency-Key``.

The agent and an operator must not both answer the lead: a lead not handed off is handed off first (reason
``operator_reply``), as ``PUT /v1/leads/{id}/handoff`` would; the agent answers it again only after
``DELETE /v1/leads/{id}/handoff``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Path, Response
from servicekit import Conflict, NotFound

from backoffice_api.deps import InvalidParameter, LeadsWrite, PortsDep
from backoffice_api.models import LEAD_ID, Handoff, OperatorMessage, OperatorMessageCreate
from backoffice_api.routes import COMMON_ERRORS, NOT_FOUND, UPSTREAM

router = APIRouter(prefix="/v1/leads", tags=["leads"], responses=COMMON_ERRORS)
LeadId = Annotated[str, Path(pattern=LEAD_ID, examples=["lead_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1"])]
#: How long a repeat of an ``Idempotency-Key`` answers the first request's result.
KEPT = timedelta(hours=24)


def _fingerprint(lead_id: str, text: str) -> str:
    return hashlib.sha256(f"{lead_id}\0{text}".encode()).hexdigest()


@router.post(
    "/{lead_id}/messages",
    status_code=202,
    responses=NOT_FOUND
    | UPSTREAM
    | {409: {"description": "The lead has no conversation yet (no WhatsApp instance to answer from)"}},
    summary="Send an operator's text to the lead through WhatsApp, exactly once",
    description="The text goes out as one WhatsApp message from the instance the lead last talked to, once "
    "per `Idempotency-Key` (required): a retried request answers the first one's result (202, the same "
    "`event_id`) and sends nothing more; the same key with another lead or text is 422. A lead the agent "
    "is still answering is handed off first (`handed_off: true`), so the agent falls silent; "
    "`DELETE /v1/leads/{lead_id}/handoff` gives it back. Scope `leads:write`.",
)
async def send_message(
    lead_id: LeadId,
    body: OperatorMessageCreate,
    key: LeadsWrite,
    ports: PortsDep,
    response: Response,
    idempotency_key: Annotated[
        str,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=200,
            description="Required: one key per message the operator means to send (a UUID, say).",
        ),
    ],
) -> OperatorMessage:
    company = key.company_id
    record_key = ports.models.ks.operator_reply(company, hashlib.sha256(idempotency_key.encode()).hexdigest())
    fingerprint = _fingerprint(lead_id, body.text)
    first = await ports.models.redis.get(record_key)
    if first is not None:
        return _repeat(first, fingerprint)
    row = await ports.models.lead(company, lead_id)
    if row is None:
        raise NotFound(f"lead {lead_id} not found")
    [last] = await ports.models.last_messages(company, [row.get("external_id")])
    instance_id = (last or {}).get("instance_id")
    if not instance_id:
        raise Conflict("the lead has no conversation yet: no WhatsApp instance to answer from")
    sent = await ports.agent.send_reply(
        lead_id,
        company_id=company,
        instance_id=str(instance_id),
        text=body.text,
        idempotency_key=idempotency_key,
        requested_by=key.key_id,
    )
    answer = OperatorMessage(
        lead_id=lead_id,
        event_id=str(sent["event_id"]),
        correlation_id=str(sent["correlation_id"]),
        handed_off=bool(sent.get("handed_off")),
        text=body.text,
    )
    record = json.dumps({"fingerprint": fingerprint, "answer": answer.model_dump(mode="json")})
    ms = int(KEPT.total_seconds() * 1000)
    if not await ports.models.redis.set(record_key, record, px=ms, nx=True):
        # A concurrent request with the key stored its answer first: it is the same event (derived ids).
        stored = await ports.models.redis.get(record_key)
        if stored is not None:
            return _repeat(stored, fingerprint)
    await _mirror_handoff(ports, company, lead_id, answer)
    response.status_code = 202
    return answer


def _repeat(stored: str | bytes, fingerprint: str) -> OperatorMessage:
    record = json.loads(stored)
    if record["fingerprint"] != fingerprint:
        raise InvalidParameter("Idempotency-Key", "this key sent another message (another lead or text)")
    return OperatorMessage.model_validate(record["answer"])


async def _mirror_handoff(ports: PortsDep, company: str, lead_id: str, answer: OperatorMessage) -> None:
    """The lead list's copy of the handoff flag (agent-runtime owns it), as ``PUT …/handoff`` keeps it."""
    if answer.handed_off:
        state = Handoff(active=True, reason="operator_reply", updated_at=datetime.now(UTC))
        await ports.models.redis.hset(ports.models.ks.handoff(company), lead_id, state.model_dump_json())
