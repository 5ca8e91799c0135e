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
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

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
T = TypeVar("T")


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
    """One message: ``answer_messages`` on a batch of one, raising what it failed with."""
    [outcome] = await answer_messages([event], agent=agent)
    if outcome is not None:
        raise outcome


async def answer_messages(
    events: Sequence[Envelope[MessageReceived]], *, agent: Agent
) -> list[Exception | None]:
    """Answer messages of different leads (the bus's batch handler); one outcome per message, in order.

    Each phase runs for the whole batch before the next: read the state of the leads this process does not
    remember, claim and announce new leads, think, then one round trip of commits and one of publishes.
    That keeps the interpreter on one kind of work at a time and makes no task or future per message:
    together that cut the CPU per message by 24 % (docs/bench/agent-runtime.md). A message fails alone: its
    outcome is its error, and the bus retries it.
    """
    outcomes: list[Exception | None] = [None] * len(events)
    keys = [LeadKey(event.company_id, event.payload.lead_external_id) for event in events]
    # With a language model, the state is always read: a wrong guess would cost a second model call, and
    # the model's latency dwarfs the read's.
    recalled = [agent.store.recall(key) if agent.llm is None else None for key in keys]
    guessed = [(i, state) for i, state in enumerate(recalled) if state is not None]
    read = await _read(
        events, keys, [i for i, state in enumerate(recalled) if state is None], outcomes, agent
    )
    stale = await _respond(events, sorted([*guessed, *read], key=lambda item: item[0]), outcomes, agent,
                           guessed={i for i, _ in guessed})  # fmt: skip
    if stale:
        # What this process remembered of these leads was stale (another replica answered them, a person took
        # them over, their keys expired): nothing was stored or published, so answer from what Redis holds.
        log.debug("recalled_state_stale", messages=len(stale))
        await _respond(
            events, await _read(events, keys, stale, outcomes, agent), outcomes, agent, guessed=set()
        )
    return outcomes


async def _read(
    events: Sequence[Envelope[MessageReceived]],
    keys: list[LeadKey],
    which: list[int],
    outcomes: list[Exception | None],
    agent: Agent,
) -> list[tuple[int, Snapshot]]:
    if not which:
        return []
    read = await agent.store.load_many([(keys[i], events[i].id) for i in which])
    states: list[tuple[int, Snapshot]] = []
    for i, state in zip(which, read, strict=True):
        if isinstance(state, Exception):
            outcomes[i] = state
        else:
            states.append((i, state))
    return states


async def _respond(
    events: Sequence[Envelope[MessageReceived]],
    states: list[tuple[int, Snapshot]],
    outcomes: list[Exception | None],
    agent: Agent,
    *,
    guessed: set[int],
) -> list[int]:
    """Answer each message from its lead's state, phase by phase. Returns the messages whose state was
    ``guessed`` (remembered, not read) and found stale by the commit, to answer again from a read; a read
    state found stale is that message's failure (the bus retries it)."""
    leads: dict[int, Lead] = {i: state.lead for i, state in states if state.lead is not None}
    new = [i for i, state in states if state.lead is None]
    if new:
        now = agent.clock()
        claimed = await agent.store.claim_many([agent.leads.candidate(events[i], now=now) for i in new])
        _keep(leads, outcomes, zip(new, claimed, strict=True))
    # The lead's first message (or a retry of it): recorded with the answer below.
    announcing = [i for i, lead in leads.items() if not lead.announced]
    if announcing:
        announced = await agent.leads.announce_many([(leads[i], events[i]) for i in announcing])
        _keep(leads, outcomes, zip(announcing, announced, strict=True))

    commits: list[tuple[int, Commit]] = []
    answered: dict[int, tuple[Turn, Reply]] = {}
    publishing: list[tuple[int, Answer]] = []  # answers stored earlier, to publish again
    saving: list[int] = []
    thinking: list[tuple[int, Conversation]] = []
    for i, state in states:
        lead = leads.get(i)
        if lead is None:
            continue  # failed above
        if state.answer is not None:
            if i in announcing:
                saving.append(i)
            publishing.append((i, state.answer))
            log.info(
                "answer_republished",
                lead_id=lead.lead_id,
                events=len(state.answer.events),
                **_fields(events[i]),
            )
            continue
        conversation = state.conversation
        if state.qualified and not conversation.qualified:  # the conversation expired, not that
            conversation = conversation.model_copy(update={"qualified": True})
        if state.handoff is not None and state.handoff.active:
            # A person is answering: we stay silent, and remember that this message was seen (not advanced).
            silent = Commit(
                lead,
                events[i].id,
                Answer(events=[]),
                conversation,
                expected_version=conversation.version,
                announced=i in announcing,
                unless_handed_off=False,
            )
            commits.append((i, silent))
            log.info("reply_suppressed_handoff", lead_id=lead.lead_id, **_fields(events[i]))
            continue
        thinking.append((i, conversation))

    for (i, conversation), (turn, reply) in zip(
        thinking, await _think(events, thinking, leads, agent), strict=True
    ):
        answered[i] = (turn, reply)
        commit = Commit(
            reply.lead,
            events[i].id,
            reply.answer,
            turn.conversation,
            expected_version=conversation.version,
            handoff=reply.handoff,
            qualify=turn.qualification is not None,
            announced=i in announcing,
            made_by=conversation.made_by,  # what a remembered state is checked by (a read one passes it too)
        )
        commits.append((i, commit))

    if saving:
        for i, failed in zip(saving, await agent.store.save_leads([leads[i] for i in saving]), strict=True):
            outcomes[i] = failed
    stale: list[int] = []
    sending: list[tuple[int, Envelope[Any], str | None]] = []
    results = await agent.store.commit_many([commit for _, commit in commits]) if commits else []
    for (i, _), result in zip(commits, results, strict=True):
        if isinstance(result, ConversationMoved) and i in guessed:
            stale.append(i)
        elif isinstance(result, Exception):
            outcomes[i] = result
        elif result is None:
            if i in answered:  # ours was stored: publish the envelopes in hand rather than parse them back
                turn, reply = answered[i]
                sending += [(i, envelope, key) for envelope, key in reply.events]
                _answered(turn, reply)
        elif i in answered:  # answered already (a replay, a re-run): the stored answer is the one to publish
            publishing.append((i, result))
    for i, answer in publishing:
        if outcomes[i] is None:
            sending += [(i, catalog.parse(item.wire), item.dedupe_key) for item in answer.events]
    if sending:
        published = await agent.bus.publish_many([(envelope, key) for _, envelope, key in sending])
        for (i, _, _), outcome in zip(sending, published, strict=True):
            if isinstance(outcome, Exception) and outcomes[i] is None:
                outcomes[i] = outcome  # stored, not published: the retry publishes the stored answer
    return stale


def _keep(
    leads: dict[int, Lead], outcomes: list[Exception | None], results: Iterable[tuple[int, Lead | Exception]]
) -> None:
    """Each message's lead as a phase left it; a message whose phase failed drops out with its error."""
    for i, result in results:
        if isinstance(result, Exception):
            outcomes[i] = result
            leads.pop(i, None)
        else:
            leads[i] = result


async def _think(
    events: Sequence[Envelope[MessageReceived]],
    thinking: list[tuple[int, Conversation]],
    leads: dict[int, Lead],
    agent: Agent,
) -> list[tuple[Turn, Reply]]:
    """Each message's turn and reply: by the rules, for the whole batch; with a language model, its calls for
    all the messages at once, each under its message's context (for its log lines)."""
    found = [_found(events[i], conversation, agent) for i, conversation in thinking]
    llm = agent.llm
    if llm is not None:
        refining = [
            _as(
                events[i],
                llm.refine((events[i].payload.body or "").strip(), f, today=_today(events[i], agent)),
            )
            if f is not None
            else _none()
            for (i, _), f in zip(thinking, found, strict=True)
        ]
        found = [
            r if r is not None else f for r, f in zip(await asyncio.gather(*refining), found, strict=True)
        ]
    turns = [
        _turn(events[i], conversation, f, agent) for (i, conversation), f in zip(thinking, found, strict=True)
    ]
    paragraphs = [turn.paragraphs for turn in turns]
    if llm is not None and agent.settings.llm_phrase:
        paragraphs = list(
            await asyncio.gather(
                *(_as(events[i], llm.phrase(p)) for (i, _), p in zip(thinking, paragraphs, strict=True))
            )
        )
    return [
        (turn, _reply(events[i], leads[i], turn, p, agent))
        for (i, _), turn, p in zip(thinking, turns, paragraphs, strict=True)
    ]


async def _as(event: Envelope[Any], call: Awaitable[T]) -> T:
    """``call`` with ``event`` as the current one: its log lines carry the event's fields."""
    with context.handling(event):
        return await call


async def _none() -> None:
    return None


def _fields(event: Envelope[Any]) -> dict[str, Any]:
    """The event's catalog fields for a log line: a batch has no current event to take them from."""
    return event.log_fields()


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
