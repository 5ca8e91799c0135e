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

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import structlog
from eventbus import (
    Bus,
    Envelope,
    LeadQualified,
    MessageReceived,
    MessageSent,
    OutgoingMessage,
    catalog,
    context,
)

from agent_runtime import SERVICE, replies
from agent_runtime.conversation import Conversation, Turn, advance, media_turn
from agent_runtime.leads import Lead, LeadKey, Leads
from agent_runtime.llm import LanguageModel
from agent_runtime.qualification import summary
from agent_runtime.settings import Settings
from agent_runtime.slots import Extraction, extract
from agent_runtime.store import Answer, Commit, ConversationMoved, Handoff, Snapshot, Store, StoredEvent

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


async def answer_messages(
    events: Sequence[Envelope[MessageReceived]], *, agent: Agent
) -> list[Exception | None]:
    """``answer_message`` for a batch of messages of different leads (the bus's batch handler).

    The usual message, of a lead this process remembers, is answered phase by phase for the whole batch:
    think, then one round trip of commits, then one of publishes. Running each phase over the batch keeps
    the interpreter on one kind of work at a time, and no task or future is made per message: together that
    cut the CPU per message by 24 % (docs/bench/agent-runtime.md). The rest (a lead's first message, a
    lead not remembered, a stale guess, a language model set) goes the one-message way, concurrently, each
    in its own task with its event as the current one. Outcomes are in the order of ``events``.
    """
    outcomes: list[Exception | None] = [None] * len(events)
    alone: dict[int, asyncio.Future[None]] = {}
    batch: list[tuple[int, Snapshot]] = []
    for i, event in enumerate(events):
        recalled = None
        if agent.llm is None:
            recalled = agent.store.recall(LeadKey(event.company_id, event.payload.lead_external_id))
        if recalled is not None and recalled.lead is not None and recalled.lead.announced:
            batch.append((i, recalled))
        else:
            alone[i] = _alone(event, agent)

    turns = [
        _turn(events[i], s.conversation, _found(events[i], s.conversation, agent), agent) for i, s in batch
    ]
    made = [
        _reply(events[i], s.lead, turn, turn.paragraphs, agent)
        for (i, s), turn in zip(batch, turns, strict=True)
        if s.lead is not None  # always: checked above
    ]
    results = await agent.store.commit_many(
        [
            Commit(
                reply.lead,
                events[i].id,
                reply.answer,
                turn.conversation,
                expected_version=s.conversation.version,
                handoff=reply.handoff,
                qualify=turn.qualification is not None,
                made_by=s.conversation.made_by,
            )
            for (i, s), turn, reply in zip(batch, turns, made, strict=True)
        ]
    )
    publishing: list[tuple[Envelope[Any], str | None]] = []
    owners: list[int] = []
    for (i, _), turn, reply, result in zip(batch, turns, made, results, strict=True):
        if isinstance(result, ConversationMoved):
            # Stale: the commit stored nothing and forgot the lead; answered afresh from what Redis holds.
            alone[i] = _alone(events[i], agent)
        elif isinstance(result, Exception):
            outcomes[i] = result
        elif result is None:
            publishing += reply.events
            owners += [i] * len(reply.events)
            _answered(turn, reply)
        else:  # answered already (a replay): the stored answer is the one to publish again
            stored = [(catalog.parse(item.wire), item.dedupe_key) for item in result.events]
            publishing += stored
            owners += [i] * len(stored)
    if publishing:
        for i, published in zip(owners, await agent.bus.publish_many(publishing), strict=True):
            if isinstance(published, Exception) and outcomes[i] is None:
                outcomes[i] = published  # stored, not published: the retry publishes the stored answer
    if alone:
        done = await asyncio.gather(*alone.values(), return_exceptions=True)
        for i, failure in zip(alone, done, strict=True):
            if isinstance(failure, BaseException) and not isinstance(failure, Exception):
                raise failure
            outcomes[i] = failure
    return outcomes


def _alone(event: Envelope[MessageReceived], agent: Agent) -> asyncio.Future[None]:
    """``answer_message`` in a task of its own, with ``event`` as the current one (for what it publishes and
    logs)."""
    with context.handling(event):  # the task copies the context as it is now
        return asyncio.ensure_future(answer_message(event, agent=agent))


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

    found = _found(event, conversation, agent)
    if found is not None and agent.llm is not None:
        found = await agent.llm.refine((message.body or "").strip(), found, today=_today(event, agent))
    turn = _turn(event, conversation, found, agent)
    paragraphs = turn.paragraphs
    if agent.llm is not None and agent.settings.llm_phrase:
        paragraphs = await agent.llm.phrase(paragraphs)
    reply = _reply(event, lead, turn, paragraphs, agent)
    earlier = await agent.store.commit(
        reply.lead,
        event.id,
        reply.answer,
        turn.conversation,
        expected_version=conversation.version,
        handoff=reply.handoff,
        qualify=turn.qualification is not None,
        announced=announced,
        made_by=conversation.made_by,  # what a remembered state is checked by (a read one passes it too)
    )
    if earlier is None:  # ours was stored: publish the envelopes in hand rather than parse them back
        for envelope, dedupe_key in reply.events:
            await agent.bus.publish(envelope, dedupe_key=dedupe_key)
    else:
        await _publish(agent.bus, earlier)
    _answered(turn, reply)


def _today(event: Envelope[MessageReceived], agent: Agent) -> date:
    return agent.clock().astimezone(agent.settings.zone(event.company_id)).date()


def _found(event: Envelope[MessageReceived], conversation: Conversation, agent: Agent) -> Extraction | None:
    """What the message's text says, by the rules; None for a message without text (media)."""
    text = (event.payload.body or "").strip()
    if not text:
        return None
    return extract(
        text, today=_today(event, agent), expecting=conversation.asked, month_hint=conversation.month_hint
    )


def _turn(
    event: Envelope[MessageReceived], conversation: Conversation, found: Extraction | None, agent: Agent
) -> Turn:
    if found is None:
        media = event.payload.media
        return media_turn(conversation, media.type if media is not None else None)
    return advance(conversation, found, rules=agent.settings.rules())


def _answered(turn: Turn, reply: Reply) -> None:
    # Debug, not info: one line per message is the hot path's largest avoidable cost in production, and
    # the bus's metrics count what was answered.
    log.debug(
        "message_answered",
        lead_id=reply.lead.lead_id,
        slots_changed=turn.changed,
        qualified=turn.qualification is not None,
        handoff=turn.handoff,
        messages=len(reply.events),
    )


@dataclass(frozen=True)
class Reply:
    """What the agent makes of one turn: the events to store and then publish, with their dedupe keys, and
    the handoff to record."""

    lead: Lead
    answer: Answer
    events: list[tuple[Envelope[Any], str]]
    handoff: Handoff | None


def _reply(
    event: Envelope[MessageReceived], lead: Lead, turn: Turn, paragraphs: list[str], agent: Agent
) -> Reply:
    texts = replies.split(paragraphs, agent.settings.max_message_chars)
    # Correlation and causation passed, not taken from the handled event's context: a batch has no single
    # current event.
    reply = Envelope.new(
        MessageSent(
            instance_id=event.payload.instance_id,
            to=event.payload.from_,
            messages=[OutgoingMessage(text=text) for text in texts],
        ),
        source=SERVICE,
        company_id=event.company_id,
        correlation_id=event.correlation_id,
        causation_id=event.id,
    )
    # One reply per received message: its id is the natural key (the catalog's "correlation_id + index"
    # would collide when a sender reuses one correlation id for a whole conversation).
    events: list[tuple[Envelope[Any], str]] = [(reply, f"reply:{event.id}")]
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
    return Reply(lead, Answer(events=stored), events, handoff)


async def _publish(bus: Bus, answer: Answer) -> None:
    for stored in answer.events:
        await bus.publish(catalog.parse(stored.wire), dedupe_key=stored.dedupe_key)
