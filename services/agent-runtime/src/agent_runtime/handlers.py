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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar

import structlog
from eventbus import (
    BatchOutcomes,
    Bus,
    Envelope,
    MessageReceived,
    catalog,
    context,
)

from agent_runtime import human_replies, names
from agent_runtime.agent_settings import CompanySettings
from agent_runtime.conversation import Conversation, Turn, advance, media_turn
from agent_runtime.knowledge import Library
from agent_runtime.leads import Lead, LeadKey, Leads
from agent_runtime.llm import LanguageModel
from agent_runtime.outgoing import Reply
from agent_runtime.outgoing import reply as _reply
from agent_runtime.readings import Extraction
from agent_runtime.settings import Settings
from agent_runtime.slots import extract
from agent_runtime.store import Answer, Commit, ConversationMoved, Snapshot, Store

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
    knowledge: CompanySettings = field(default_factory=lambda: CompanySettings(None, Library(None)))


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
    That keeps the interpreter on one kind of work at a time and makes no task or future per message
    (docs/bench/agent-runtime.md). A message fails alone: its outcome is its error, and the bus retries it.
    """
    await agent.knowledge.refresh(event.company_id for event in events)  # the companies' settings, if stale
    batch = _Phases(events, agent)
    try:
        await batch.answer()
    except Exception:
        if len(events) == 1:
            raise
        # A failure no phase could pin on one message (a bug): answer each message alone, so that it fails only
        # the message it belongs to. Every step is safe to repeat (the module docstring), so whatever the batch
        # stored or published already is found and published again, not done twice.
        log.exception("batch_failed_answering_alone", messages=len(events))
        return list(await asyncio.gather(*(_alone(event, agent) for event in events)))
    return list(batch.outcomes)


async def _alone(event: Envelope[MessageReceived], agent: Agent) -> Exception | None:
    with context.handling(event):  # this task's own context: its log lines carry the event's fields
        try:
            await answer_message(event, agent=agent)
        except Exception as exc:
            return exc
    return None


class _Phases:
    """The phases that answer one call's messages. Which message failed, and why, is the bus's bookkeeping
    (``BatchOutcomes``): a step that fails for one message records the error as that message's outcome, and
    the later phases leave it out."""

    def __init__(self, events: Sequence[Envelope[MessageReceived]], agent: Agent) -> None:
        self.events = events
        self.agent = agent
        self.outcomes: BatchOutcomes[Envelope[MessageReceived]] = BatchOutcomes(events)
        self.keys = [LeadKey(event.company_id, event.payload.lead_external_id) for event in events]

    async def answer(self) -> None:
        store = self.agent.store
        recalled: dict[int, Snapshot] = {}
        if self.agent.llm is None:
            # With a language model, the state is always read: a wrong guess would cost a second model call,
            # and the model's latency dwarfs the read's.
            for i, key in enumerate(self.keys):
                # A person's message from the phone reads the handoff, which a remembered state does not hold.
                if not self.events[i].payload.from_me and (state := store.recall(key)) is not None:
                    recalled[i] = state
        read = await self.read([i for i in range(len(self.events)) if i not in recalled])
        stale = await self.respond(recalled | read, guessed=set(recalled))
        if stale:
            # What this process remembered of these leads was stale (another replica answered them, a person
            # took them over, their keys expired): nothing was stored or published, so answer from Redis.
            log.debug("recalled_state_stale", messages=len(stale))
            await self.respond(await self.read(stale), guessed=set())

    async def read(self, which: list[int]) -> dict[int, Snapshot]:
        if not which:
            return {}
        states = await self.agent.store.load_many([(self.keys[i], self.events[i].id) for i in which])
        return self.outcomes.collect(which, states)

    async def identify(self, states: dict[int, Snapshot]) -> tuple[dict[int, Lead], set[int]]:
        """Each message's lead, claimed for a new one, and announced when it was not yet; the messages whose
        lead was announced now (recorded with their answer)."""
        agent, events = self.agent, self.events
        leads = {i: state.lead for i, state in states.items() if state.lead is not None}
        new = [i for i, state in states.items() if state.lead is None]
        if new:
            now = agent.clock()
            candidates = self.outcomes.each(new, lambda i: agent.leads.candidate(events[i], now=now))
            leads |= self.outcomes.collect(
                candidates, await agent.store.claim_many(list(candidates.values()))
            )
        announcing = [i for i, lead in leads.items() if not lead.announced]
        if announcing:
            announced = await agent.leads.announce_many([(leads[i], events[i]) for i in announcing])
            for i in announcing:
                del leads[i]
            leads |= self.outcomes.collect(announcing, announced)
        return leads, set(announcing)

    async def respond(self, states: dict[int, Snapshot], *, guessed: set[int]) -> list[int]:
        """Answer each message from its lead's state. Returns the messages whose state was ``guessed``
        (remembered, not read) and found stale by the commit, to answer again from a read; a read state
        found stale is that message's failure (the bus retries it)."""
        agent, events = self.agent, self.events
        leads, announcing = await self.identify(states)
        again: dict[int, Answer] = {}  # answers stored earlier, to publish again
        saving: list[int] = []
        commits: dict[int, Commit] = {}
        thinking: dict[int, Conversation] = {}
        # A person wrote from the business's phone: never answered, maybe a handoff (human_replies.py).
        by_phone = {i for i in states if events[i].payload.from_me}
        for i, state in states.items():
            lead = leads.get(i)
            if lead is None:
                continue  # failed above
            if i in by_phone and state.answer is None:
                commits[i] = human_replies.commit(
                    lead,
                    events[i],
                    state.conversation,
                    state.handoff,
                    hand_off=agent.knowledge.of(events[i].company_id).handoff_on_human_reply,
                    announced=i in announcing,
                    now=agent.clock(),
                )
                continue
            if state.answer is not None:
                if i in announcing:
                    saving.append(i)
                again[i] = state.answer
                log.info(
                    "answer_republished",
                    lead_id=lead.lead_id,
                    events=len(state.answer.events),  # 0 once they were all published: nothing to send
                    **events[i].log_fields(),
                )
                continue
            conversation = state.conversation
            if state.qualified and not conversation.qualified:  # the conversation expired, not that
                conversation = conversation.model_copy(update={"qualified": True})
            if state.handoff is not None and state.handoff.active:
                # A person is answering: we stay silent, and remember that this message was seen (not advanced).
                commits[i] = Commit(
                    lead,
                    events[i].id,
                    Answer(events=[]),
                    conversation,
                    expected_version=conversation.version,
                    announced=i in announcing,
                    unless_handed_off=False,
                )
                log.info("reply_suppressed_handoff", lead_id=lead.lead_id, **events[i].log_fields())
                continue
            thinking[i] = conversation

        answered = await self.think(thinking, leads)
        for i, (turn, reply) in answered.items():
            commits[i] = Commit(
                leads[i],
                events[i].id,
                reply.answer,
                turn.conversation,
                expected_version=thinking[i].version,
                handoff=reply.handoff,
                qualify=turn.qualification is not None,
                announced=i in announcing,
                # what a remembered state is checked by (a read one passes it too)
                made_by=thinking[i].made_by,
            )
        if saving:
            self.outcomes.collect(saving, await agent.store.save_leads([leads[i] for i in saving]))

        stale: list[int] = []
        sending: list[tuple[int, Envelope[Any], str | None]] = []
        results = await agent.store.commit_many(list(commits.values())) if commits else []
        for i, result in zip(commits, results, strict=True):
            if isinstance(result, ConversationMoved) and i in guessed:
                stale.append(i)
            elif isinstance(result, Exception):
                self.outcomes.failed(i, result)
            elif i not in answered:
                # Silent (handoff). An answer found stored was made by an earlier run of this message, which
                # publishes it itself (at-least-once: its retry republishes it).
                pass
            elif result is None:  # ours was stored: publish the envelopes in hand rather than parse them back
                turn, reply = answered[i]
                sending += [(i, envelope, key) for envelope, key in reply.events]
                _answered(turn, reply, events[i], leads[i])
            else:  # answered already (a replay, a re-run): the stored answer is the one to publish again
                again[i] = result
        stored = self.outcomes.each(
            (i for i in again if self.outcomes.ok(i)),
            lambda i: [(catalog.parse(item.wire), item.dedupe_key) for item in again[i].events],
        )
        sending += [(i, envelope, key) for i, parsed in stored.items() for envelope, key in parsed]
        if sending:
            published = await agent.bus.publish_many([(envelope, key) for _, envelope, key in sending])
            for (i, _, _), outcome in zip(sending, published, strict=True):
                if isinstance(outcome, Exception):
                    self.outcomes.failed(
                        i, outcome
                    )  # stored, not published: the retry publishes the stored answer
            for i in dict.fromkeys(i for i, _, _ in sending):
                if self.outcomes.ok(i):  # all its events published: the answer may be cut down (store.py)
                    agent.store.cuts.published(self.keys[i], events[i].id)
        return stale

    async def think(
        self, thinking: dict[int, Conversation], leads: dict[int, Lead]
    ) -> dict[int, tuple[Turn, Reply]]:
        """Each message's turn and reply: by the rules, for the whole batch; with a language model, its calls
        for all the messages at once."""
        agent, events = self.agent, self.events
        found = self.outcomes.each(thinking, lambda i: _found(events[i], thinking[i], agent))
        llm = agent.llm
        if llm is not None:
            refined = await asyncio.gather(*(self.refine(llm, i, f) for i, f in found.items()))
            found = dict(zip(found, refined, strict=True))
        turns = self.outcomes.each(found, lambda i: _turn(events[i], thinking[i], found[i], agent))
        paragraphs = {i: turn.paragraphs for i, turn in turns.items()}
        if llm is not None and agent.settings.llm_phrase:
            phrased = await asyncio.gather(*(self.phrase(llm, i, p) for i, p in paragraphs.items()))
            paragraphs = dict(zip(paragraphs, phrased, strict=True))
        return self.outcomes.each(
            turns, lambda i: (turns[i], _reply(events[i], leads[i], turns[i], paragraphs[i], agent))
        )

    async def refine(self, llm: LanguageModel, i: int, found: Extraction | None) -> Extraction | None:
        """The model's reading of message ``i`` on top of the rules'; the rules' alone if it fails."""
        if found is None:
            return None  # no text (media): nothing to read
        event = self.events[i]
        text = _text(event, self.agent)
        return await self.model(i, llm.refine(text, found, today=_today(event, self.agent)), found)

    async def phrase(self, llm: LanguageModel, i: int, paragraphs: list[str]) -> list[str]:
        return await self.model(i, llm.phrase(paragraphs), paragraphs)

    async def model(self, i: int, call: Awaitable[T], fallback: T) -> T:
        """A model call for message ``i``, under its context (its log lines carry the message's fields); what
        the rules made if it fails: the model is optional, never the reason a message goes unanswered."""
        with context.handling(self.events[i]):
            try:
                return await call
            except Exception as exc:
                log.warning("llm_fallback", reason="error", error=repr(exc)[:200])
                return fallback


def _today(event: Envelope[MessageReceived], agent: Agent) -> date:
    return agent.clock().astimezone(agent.settings.zone(event.company_id)).date()


def _text(event: Envelope[MessageReceived], agent: Agent) -> str:
    """The message's text as the rules and the model read it: at most ``AGENT_MAX_INPUT_CHARS``."""
    return (event.payload.body or "")[: agent.settings.max_input_chars].strip()


def _found(event: Envelope[MessageReceived], conversation: Conversation, agent: Agent) -> Extraction | None:
    """What the message's text says, by the rules; None for a message without text (media)."""
    text = _text(event, agent)
    if not text:
        return None
    return extract(
        text,
        today=_today(event, agent),
        expecting=conversation.asked,
        month_hint=conversation.month_hint,
        limit=agent.settings.max_input_chars,
    )


def _turn(
    event: Envelope[MessageReceived], conversation: Conversation, found: Extraction | None, agent: Agent
) -> Turn:
    if found is None:
        media = event.payload.media
        return media_turn(conversation, media.precise_kind if media is not None else None)
    return advance(
        conversation,
        found,
        rules=agent.settings.rules(),
        knowledge=agent.knowledge.of(event.company_id),
        today=_today(event, agent),
        profile_name=names.from_profile(event.payload.raw.get("push_name")),
        now=agent.clock().astimezone(agent.settings.zone(event.company_id)),
    )


def _answered(turn: Turn, reply: Reply, event: Envelope[MessageReceived], lead: Lead) -> None:
    # Debug, not info: one line per message is the hot path's largest avoidable cost in production, and
    # the bus's metrics count what was answered.
    log.debug(
        "message_answered",
        lead_id=lead.lead_id,
        slots_changed=turn.changed,
        qualified=turn.qualification is not None,
        handoff=turn.handoff,
        messages=len(reply.events),
        **event.log_fields(),
    )
