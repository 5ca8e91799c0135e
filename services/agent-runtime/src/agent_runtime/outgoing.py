"""What one answered message publishes, decided before anything is stored: the agent's reply
(``message.sent``), the lead's first qualification (``lead.qualified``, with the name the agent learned) and
the handoff the lead asked for; each event with its natural key for the store's dedupe."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eventbus import Envelope, LeadQualified, MessageReceived, MessageSent, OutgoingMessage

from agent_runtime import SERVICE, replies
from agent_runtime.conversation import Turn
from agent_runtime.leads import Lead, reply_address
from agent_runtime.qualification import summary
from agent_runtime.store import Answer, Handoff, StoredEvent

if TYPE_CHECKING:
    from agent_runtime.handlers import Agent


@dataclass(frozen=True)
class Reply:
    """What the agent makes of one turn: the events to store and then publish, with their dedupe keys, and
    the handoff to record."""

    answer: Answer
    events: list[tuple[Envelope[Any], str | None]]
    handoff: Handoff | None


def reply(
    event: Envelope[MessageReceived], lead: Lead, turn: Turn, paragraphs: list[str], agent: Agent
) -> Reply:
    texts = replies.split(paragraphs, agent.settings.max_message_chars)
    # Correlation and causation passed, not taken from the handled event's context: a batch has no single
    # current event.
    reply = Envelope.new(
        MessageSent(
            instance_id=event.payload.instance_id,
            to=reply_address(event.payload),
            messages=[OutgoingMessage(text=text) for text in texts],
        ),
        source=SERVICE,
        company_id=event.company_id,
        correlation_id=event.correlation_id,
        causation_id=event.id,
    )
    # One reply per received message, and no dedupe key of the bus's for it: the stored answer is its one
    # idempotency record (store.py). A re-run publishes the stored envelope again under the same event id,
    # which every consuming group's processed ids drop; a dedupe key beside it cost ~170 B a message for a
    # day and guarded nothing more (docs/retention.md).
    events: list[tuple[Envelope[Any], str | None]] = [(reply, None)]
    if turn.qualification is not None:
        qualified = Envelope.new(
            LeadQualified(
                lead_id=lead.lead_id,
                company_id=lead.company_id,
                score=turn.qualification.score,
                criteria=list(turn.qualification.met),
                summary=summary(turn.conversation.slots, notes=turn.conversation.notes),
                lead_name=(turn.conversation.name or "")[:256] or None,
            ),
            source=SERVICE,
            company_id=lead.company_id,
            correlation_id=event.correlation_id,
            causation_id=event.id,
        )
        # The catalog keeps the first qualification only: the lead id alone is the key.
        events.append((qualified, lead.lead_id))
    handoff = None
    if turn.handoff:
        handoff = Handoff(
            lead_id=lead.lead_id,
            company_id=lead.company_id,
            active=True,
            reason="lead_asked",
            requested_by="lead",
            since=agent.clock(),
        )
    stored = [StoredEvent(wire=envelope.to_wire().decode(), dedupe_key=key) for envelope, key in events]
    return Reply(Answer(events=stored), events, handoff)
