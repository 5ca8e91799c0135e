"""The agent's one reaction to the catalog: ``message.received`` → (``lead.created``) ``message.sent``
(``lead.qualified``).

Messages of one lead arrive one at a time and in order (the subscription's ordering key), so the read,
think, store, publish sequence below never races with itself for a lead. The read is skipped when this
process remembers the lead from its last message (``Store.recall``); the store checks that guess.

What makes it safe to run twice for the same message (a crash before the bus's acknowledgement, an
operator's replay): the lead is claimed by natural key, and the answer is stored by received event id
*before* it is published (``store``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from eventbus import Bus, Envelope, LeadQualified, MessageReceived, MessageSent, OutgoingMessage, catalog

from agent_runtime import SERVICE, replies
from agent_runtime.conversation import Turn, advance, media_turn
from agent_runtime.leads import Lead, LeadKey, Leads
from agent_runtime.llm import LanguageModel
from agent_runtime.qualification import summary
from agent_runtime.settings import Settings
from agent_runtime.slots import extract
from agent_runtime.store import Answer, ConversationMoved, Handoff, Snapshot, Store, StoredEvent

log = structlog.get_logger("agent_runtime")

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Agent:
    """What ``answer_message`` works with; built once by ``create_app``."""

    bus: Bus
    leads: Leads
    store: Store
    settings: Settings
    clock: Clock
    llm: LanguageModel | None = None


async def answer_message(event: Envelope[MessageReceived], *, agent: Agent) -> None:
    key = LeadKey(event.company_id, event.payload.lead_external_id)
    # With a language model, the state is always read: a wrong guess would cost a second model call, and
    # the model's latency dwarfs the read's.
    recalled = agent.store.recall(key) if agent.llm is None else None
    if recalled is not None:
        try:
            await _respond(event, recalled, agent)
            return
        except ConversationMoved:
            # What this process remembered of the lead was stale (another replica answered it, a person took
            # it over, its keys expired): nothing was stored or published, so answer from what Redis holds.
            log.debug("recalled_state_stale", lead_id=recalled.lead.lead_id if recalled.lead else None)
    await _respond(event, await agent.store.load(key, event.id), agent)


async def _respond(event: Envelope[MessageReceived], snapshot: Snapshot, agent: Agent) -> None:
    message = event.payload
    lead = snapshot.lead or await agent.leads.claim(event, now=agent.clock())
    announced = not lead.announced
    if announced:  # the lead's first message (or a retry of it): recorded with the answer below
        lead = await agent.leads.announce(lead)
    if snapshot.answer is not None:
        if announced:
            await agent.store.save_lead(lead)
        await _publish(agent.bus, snapshot.answer)
        log.info("answer_republished", lead_id=lead.lead_id, events=len(snapshot.answer.events))
        return
    conversation = snapshot.conversation
    if snapshot.qualified and not conversation.qualified:
        conversation = conversation.model_copy(
            update={"qualified": True}
        )  # the conversation expired, not that
    if snapshot.handoff is not None and snapshot.handoff.active:
        # A person is answering: we stay silent, and remember that this message was seen (not advanced).
        await agent.store.commit(
            lead,
            event.id,
            Answer(events=[]),
            conversation,
            expected_version=conversation.version,
            announced=announced,
            unless_handed_off=False,
        )
        log.info("reply_suppressed_handoff", lead_id=lead.lead_id)
        return

    text = (message.body or "").strip()
    if not text:
        turn = media_turn(conversation, message.media.type if message.media is not None else None)
    else:
        today = agent.clock().astimezone(agent.settings.zone(event.company_id)).date()
        found = extract(text, today=today, expecting=conversation.asked, month_hint=conversation.month_hint)
        if agent.llm is not None:
            found = await agent.llm.refine(text, found, today=today)
        turn = advance(conversation, found, rules=agent.settings.rules())

    answer, fresh = await _answer(event, lead, turn, agent)
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
    earlier = await agent.store.commit(
        lead,
        event.id,
        answer,
        turn.conversation,
        expected_version=conversation.version,
        handoff=handoff,
        qualify=turn.qualification is not None,
        announced=announced,
        made_by=conversation.made_by,  # what a remembered state is checked by (a read one passes it too)
    )
    if earlier is None:  # ours was stored: publish the envelopes in hand rather than parse them back
        for envelope, item in zip(fresh, answer.events, strict=True):
            await agent.bus.publish(envelope, dedupe_key=item.dedupe_key)
    else:
        await _publish(agent.bus, earlier)
    # Debug, not info: one line per message is the hot path's largest avoidable cost in production, and
    # the bus's metrics count what was answered.
    log.debug(
        "message_answered",
        lead_id=lead.lead_id,
        slots_changed=turn.changed,
        qualified=turn.qualification is not None,
        handoff=turn.handoff,
        messages=len(answer.events),
    )


async def _answer(
    event: Envelope[MessageReceived], lead: Lead, turn: Turn, agent: Agent
) -> tuple[Answer, list[Envelope[Any]]]:
    paragraphs = turn.paragraphs
    if agent.llm is not None and agent.settings.llm_phrase:
        paragraphs = await agent.llm.phrase(paragraphs)
    texts = replies.split(paragraphs, agent.settings.max_message_chars)
    reply = Envelope.new(
        MessageSent(
            instance_id=event.payload.instance_id,
            to=event.payload.from_,
            messages=[OutgoingMessage(text=text) for text in texts],
        ),
        source=SERVICE,
        company_id=event.company_id,
    )
    # One reply per received message: its id is the natural key (the catalog's "correlation_id + index"
    # would collide when a sender reuses one correlation id for a whole conversation).
    envelopes: list[Envelope[Any]] = [reply]
    events = [StoredEvent(wire=reply.to_wire().decode(), dedupe_key=f"reply:{event.id}")]
    if turn.qualification is not None:
        qualified = Envelope.new(
            LeadQualified(
                lead_id=lead.lead_id,
                company_id=lead.company_id,
                score=turn.qualification.score,
                criteria=list(turn.qualification.met),
                summary=summary(turn.conversation.slots),
            ),
            source=SERVICE,
            company_id=lead.company_id,
        )
        # The catalog keeps the first qualification only: the lead id alone is the key.
        envelopes.append(qualified)
        events.append(StoredEvent(wire=qualified.to_wire().decode(), dedupe_key=lead.lead_id))
    return Answer(events=events), envelopes


async def _publish(bus: Bus, answer: Answer) -> None:
    for stored in answer.events:
        await bus.publish(catalog.parse(stored.wire), dedupe_key=stored.dedupe_key)
