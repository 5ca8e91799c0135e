"""Per-lead state in Redis: the lead record, the conversation, the answer to each received message, the
handoff, and whether the lead was qualified.

Every key of a lead carries one hash tag, its natural key ``{<company_id>:<lead_external_id>}``, which a
message names before the lead has an id: one ``MGET`` reads all of a lead's state, and one Lua call
(``commit_many``) writes the answer and the conversation together, in one Redis Cluster slot. The one key outside
it, ``lead-ref:<lead_id>`` (the admin API knows a lead by id only), is read and written on its own. The lead's
record, its reference and its qualified flag expire with its conversation (``AGENT_CONVERSATION_TTL``, 30
days), every answer extending them all: a lead silent for longer writes again as a new lead.

The answer is stored *before* it is published, keyed by the received event's id: a replayed or re-run
message finds it and publishes the very same events again (same ids, so every group's processed ids drop the
copies) instead of thinking twice. Once every event of it is published, the stream holds them: the answer is
*cut down* to a mark, a field of the lead's ``answered`` hash (~40 B where the answer was ~1 KB; ``marks.lua``),
and a re-run finding the mark publishes nothing (the stream delivers the events to every group; the groups'
processed ids drop a second copy). An answer not cut down was not known to be published: a re-run publishes it
under the same ids (docs/reliability.md, "agent-runtime").

The cut costs no command of its own on the hot path (``Cuts``): this process remembers the answers it
published, and the lead's next commit cuts them in the same script; what is still uncut ``AGENT_CUT_AFTER``
later (the lead's last message, usually) is cut by ``sweep``, many leads in one round trip, and all of it
when the service stops. A process that dies leaves its uncut answers whole for their TTL: bigger, still right.

The store also remembers, in process, the lead and conversation it committed last for each lead (``recall``):
a lead's next message usually comes to the same process, and then needs no read at all. What it remembers is
only a guess, checked by the commit: the answer already stored, the conversation's version and the event
that made it, an active handoff. Whatever moved under it (another replica's turn, an operator's handoff, an
expired or flushed key) makes the commit refuse, and the handler forgets the guess and reads the state
afresh.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from eventbus import Keys
from eventbus.line import Command
from pydantic import BaseModel, ConfigDict
from servicekit import lua

from agent_runtime import SERVICE
from agent_runtime.conversation import Conversation
from agent_runtime.cuts import Cuts
from agent_runtime.leads import Lead, LeadKey, LeadRef
from agent_runtime.pipeline import Pipeline

T = TypeVar("T")

# A lead's marks (marks.lua) are written by the commit and by the cut.
_MARKS = lua.script("agent_runtime", "marks")
_COMMIT = _MARKS + lua.script("agent_runtime", "commit_answer")
_CUT = _MARKS + lua.script("agent_runtime", "cut")


class ConversationMoved(Exception):
    """The stored conversation changed between our read and our write: the consumer retries the message
    (its next attempt reads the new state). On a state just read, only a handler overrunning its lease can
    cause it; on a remembered one (``recall``), anything that moved the lead meanwhile, and the handler then
    reads afresh itself."""


class HandoffStarted(ConversationMoved):
    """A person took the lead over after the state was read (the admin API, on any replica): the answer is
    not stored, and a fresh read finds the handoff and stays silent."""


class StoredEvent(BaseModel):
    wire: str
    dedupe_key: str | None = None


class Answer(BaseModel):
    """What the agent did about one received message: the events to publish (none while in handoff). Once
    they are all published it is a mark (``marks.lua``), read back as no events. ``published``: the ids an
    answer cut down before the marks kept (records written until 2026-12-07, read for their 8 days)."""

    model_config = ConfigDict(frozen=True)

    events: list[StoredEvent]
    published: list[str] = []


class Handoff(BaseModel):
    model_config = ConfigDict(frozen=True)

    lead_id: str
    company_id: str
    active: bool
    reason: str
    requested_by: str
    since: datetime
    ended_at: datetime | None = None


@dataclass(frozen=True)
class Commit:
    """One answer to store with the conversation it leads to (see ``Store.commit_many``)."""

    lead: Lead
    event_id: str
    answer: Answer
    conversation: Conversation
    expected_version: int
    handoff: Handoff | None = None
    qualify: bool = False
    announced: bool = False
    unless_handed_off: bool = True
    made_by: str | None = None

    @functools.cached_property
    def stored(self) -> Conversation:
        """The conversation as stored: marked with the event that made it."""
        return self.conversation.model_copy(update={"made_by": self.event_id})


@dataclass(frozen=True)
class Snapshot:
    lead: Lead | None  # None before the lead's first message was claimed
    conversation: Conversation
    answer: Answer | None
    handoff: Handoff | None
    qualified: bool


class Store:
    """``pipeline`` carries the commands (``pipeline.py``): concurrent handlers share round trips."""

    def __init__(
        self,
        pipeline: Pipeline,
        keys: Keys,
        *,
        conversation_ttl: timedelta,
        answer_ttl: timedelta,
        lead_ttl: timedelta,
        remembered_leads: int = 0,
    ) -> None:
        self._pipeline = pipeline
        self._keys = keys
        self._conversation_ttl_ms = int(conversation_ttl.total_seconds() * 1000)
        # A lead's record, its reference by id and its qualified flag live ``lead_ttl`` past its last answer
        # (without one they grew for ever, ~860 B a lead): a lead silent for longer is a new lead when it writes
        # again. The reference (another slot) lives a day longer and is extended once a day at most
        # (``commit_answer.lua``).
        self._lead_ttl_ms = int(lead_ttl.total_seconds() * 1000)
        self._ref_ttl_ms = self._lead_ttl_ms + 86_400_000
        self._answer_ttl_ms = int(answer_ttl.total_seconds() * 1000)
        self._commit = pipeline.script(_COMMIT)
        self._cut = pipeline.script(_CUT)
        self.cuts = Cuts()
        # Least recently used first. Hand-written: a few lines of OrderedDict, where a cache library would
        # add a dependency for the same.
        self._remembered: OrderedDict[LeadKey, tuple[Lead, Conversation]] = OrderedDict()
        self._remembered_leads = remembered_leads

    def recall(self, lead: LeadKey) -> Snapshot | None:
        """The lead's state as this process committed it last, if it remembers it: a guess that ``commit_many``
        checks (its result is ``ConversationMoved`` when the guess was stale)."""
        remembered = self._remembered.get(lead)
        if remembered is None:
            return None
        self._remembered.move_to_end(lead)
        record, conversation = remembered
        return Snapshot(record, conversation, answer=None, handoff=None, qualified=conversation.qualified)

    def forget(self, lead: LeadKey) -> None:
        self._remembered.pop(lead, None)

    def _remember(self, lead: Lead, conversation: Conversation) -> None:
        self._remembered[lead.key] = (lead, conversation)
        self._remembered.move_to_end(lead.key)
        if len(self._remembered) > self._remembered_leads:
            self._remembered.popitem(last=False)

    def key(self, lead: LeadKey, *parts: str) -> str:
        """``wb:svc:agent-runtime:{<company_id>:<lead_external_id>}:<parts…>``. Whatever the external id
        holds (even braces), every key of one lead starts with the same characters up to the first ``}``,
        so they share a slot."""
        return self._keys.service(SERVICE, f"{{{lead.company_id}:{lead.lead_external_id}}}", *parts)

    def keys_of(self, lead: LeadKey, event_id: str) -> list[str]:
        """The keys ``load`` reads and ``commit_many`` writes, in the script's order."""
        return [
            self.key(lead, "answer", event_id),
            self.key(lead, "conversation"),
            self.key(lead, "handoff"),
            self.key(lead, "qualified"),
            self.key(lead, "lead"),
        ]

    def answered_key(self, lead: LeadKey) -> str:
        """The lead's marks: a field per message whose answer was published (``marks.lua``)."""
        return self.key(lead, "answered")

    async def load(self, lead: LeadKey, event_id: str) -> Snapshot:
        """Everything about the lead that answering ``event_id`` needs, in one round trip."""
        (snapshot,) = await self.load_many([(lead, event_id)])
        if isinstance(snapshot, Exception):
            raise snapshot
        return snapshot

    async def load_many(self, requests: Sequence[tuple[LeadKey, str]]) -> list[Snapshot | Exception]:
        """:meth:`load` for each ``(lead, event_id)``, in one round trip; each snapshot or its error."""
        commands: list[Command] = []
        for lead, event_id in requests:
            commands.append((("MGET", *self.keys_of(lead, event_id)), {}))
            commands.append((("HEXISTS", self.answered_key(lead), event_id), {}))
        replies = await self._pipeline.many(commands)
        pairs = [
            next((r for r in pair if isinstance(r, Exception)), pair)
            for pair in zip(replies[::2], replies[1::2], strict=True)
        ]
        return _each(pairs, _snapshot)

    async def lead(self, lead: LeadKey) -> Lead | None:
        raw = await self._pipeline.execute("GET", self.key(lead, "lead"))
        return Lead.model_validate_json(raw) if raw is not None else None

    async def claim_many(self, candidates: Sequence[Lead]) -> list[Lead | Exception]:
        """Store each candidate unless its natural key has a lead already, in one round trip; each the lead
        that holds the key, or the error."""
        commands: list[Command] = [
            # get=True: redis-py hands back the old value rather than "was it set"
            (
                ("SET", self.key(c.key, "lead"), c.model_dump_json(), "NX", "GET", "PX", self._lead_ttl_ms),
                {"get": True},
            )
            for c in candidates
        ]
        replies = await self._pipeline.many(commands)
        # nil: ours was set; else the record of the lead another handler claimed first (or an error)
        return [
            candidate if reply is None else _each([reply], Lead.model_validate_json)[0]
            for candidate, reply in zip(candidates, replies, strict=True)
        ]

    async def save_leads(self, leads: Sequence[Lead]) -> list[Exception | None]:
        """Store each lead record as it is now (announced), in one round trip; each one's error or None."""
        commands: list[Command] = [
            (("SET", self.key(lead.key, "lead"), lead.model_dump_json(), "PX", self._lead_ttl_ms), {})
            for lead in leads
        ]
        return _errors(await self._pipeline.many(commands))

    async def commit_many(self, commits: Sequence[Commit]) -> list[Answer | Exception | None]:
        """Store each answer and the conversation it leads to at once (and, with ``announced``, that
        ``lead.created`` was published), in one round trip; one result per commit, in order. None when ours was
        stored; the earlier answer when the message was answered already, which is the one to publish. Refused
        (``ConversationMoved``) when the conversation's version is not ``expected_version`` any more or,
        ``unless_handed_off``, a person took the lead over (``HandoffStarted``), or, given ``made_by`` (the
        ``Conversation.made_by`` it was read or recalled with), when the stored conversation was made by another
        event. A stored answer with replies is remembered for the lead's next message."""
        cuts = [self.cuts.take(commit.lead.key) for commit in commits]
        replies = await self._commit.many(
            [self._commit_call(commit, cut) for commit, cut in zip(commits, cuts, strict=True)]
        )
        for commit, cut, reply in zip(commits, cuts, replies, strict=True):
            if isinstance(reply, Exception):  # maybe not cut: again later (a cut is safe to repeat)
                self.cuts.give_back(commit.lead.key, cut)
        refs = [c.lead.lead_id for c, r in zip(commits, replies, strict=True) if _refresh_ref(r)]
        if refs:  # an error leaves the reference a day, for the lead's next answer to extend
            await self._pipeline.many(
                [(("PEXPIRE", self.ref_key(ref), self._ref_ttl_ms), {}) for ref in refs]
            )
        results: list[Answer | Exception | None] = []
        for commit, reply in zip(commits, replies, strict=True):
            if isinstance(reply, Exception):
                results.append(reply)
                continue
            try:
                results.append(self._committed(commit, reply))
            except (ConversationMoved, ValueError) as exc:  # ValueError: a stored answer that does not parse
                results.append(exc)
        return results

    def _commit_call(self, commit: Commit, cuts: list[str]) -> tuple[list[str], list[Any]]:
        lead, handoff = commit.lead, commit.handoff
        keys = [
            *self.keys_of(lead.key, commit.event_id),
            self.answered_key(lead.key),
            *(self.key(lead.key, "answer", cut) for cut in cuts),
        ]
        return keys, [
            # exclude_defaults: no "dedupe_key":null per event, no empty "published"
            commit.answer.model_dump_json(exclude_defaults=True) if commit.answer.events else "",
            self._answer_ttl_ms,
            commit.stored.model_dump_json(),
            self._conversation_ttl_ms,
            commit.expected_version,
            handoff.model_dump_json() if handoff is not None else "",
            "1" if commit.qualify else "0",
            lead.model_dump_json() if commit.announced else "",
            "1" if commit.unless_handed_off else "0",
            commit.made_by or "",
            self._lead_ttl_ms,
            commit.event_id,
            *cuts,
        ]

    def _committed(self, commit: Commit, reply: Any) -> Answer | None:
        lead, event_id = commit.lead, commit.event_id
        status = reply[0]
        if status == 1:
            if commit.answer.events and commit.handoff is None:  # a lead in handoff is read afresh each time
                self._remember(lead, commit.stored)
            else:
                self.forget(lead.key)
            return None
        self.forget(lead.key)
        if status == 0:
            return Answer.model_validate_json(reply[1])
        if status == 4:
            raise HandoffStarted(f"{lead.lead_id} was handed off while answering {event_id}")
        raise ConversationMoved(f"conversation of {lead.lead_id} changed while answering {event_id}")

    async def sweep(self, older_than: float) -> int:
        """Cut down every answer published at least ``older_than`` seconds ago and not cut since (0: all of
        them), in one round trip; returns how many. Those that fail stay to be cut at the next sweep."""
        due = self.cuts.due(older_than)
        if not due:
            return 0
        calls = [
            (
                [self.answered_key(lead), *(self.key(lead, "answer", event_id) for event_id in ids)],
                [self._answer_ttl_ms, *ids],
            )
            for lead, ids in due
        ]
        replies = await self._cut.many(calls)
        errors = []
        for (lead, ids), reply in zip(due, replies, strict=True):
            if isinstance(reply, Exception):
                self.cuts.give_back(lead, ids)
                errors.append(reply)
        if errors:
            raise errors[0]
        return sum(len(ids) for _, ids in due)

    def ref_key(self, lead_id: str) -> str:
        return self._keys.service(SERVICE, "lead-ref", lead_id)

    async def save_refs(self, refs: Sequence[LeadRef]) -> list[Exception | None]:
        """Each lead's id → natural key, in one round trip; each one's error or None."""
        commands: list[Command] = [
            (("SET", self.ref_key(ref.lead_id), ref.model_dump_json(), "PX", self._ref_ttl_ms), {})
            for ref in refs
        ]
        return _errors(await self._pipeline.many(commands))

    async def find_ref(self, lead_id: str) -> LeadRef | None:
        raw = await self._pipeline.execute("GET", self.ref_key(lead_id))
        return LeadRef.model_validate_json(raw) if raw is not None else None

    async def handoff(self, lead: LeadKey) -> Handoff | None:
        raw = await self._pipeline.execute("GET", self.key(lead, "handoff"))
        return Handoff.model_validate_json(raw) if raw is not None else None

    async def set_handoff(self, lead: LeadKey, handoff: Handoff) -> None:
        await self._pipeline.execute("SET", self.key(lead, "handoff"), handoff.model_dump_json())


def _refresh_ref(reply: Any) -> bool:
    """Whether a commit's reply asks for the lead's reference to be extended (``commit_answer.lua``)."""
    return not isinstance(reply, Exception) and reply[0] == 1 and len(reply) > 1 and reply[1] == 1


def _snapshot(reply: tuple[list[bytes | None], int]) -> Snapshot:
    (answer, conversation, handoff, qualified, record), marked = reply
    stored = Answer.model_validate_json(answer) if answer is not None else None
    return Snapshot(
        lead=Lead.model_validate_json(record) if record is not None else None,
        conversation=Conversation.model_validate_json(conversation) if conversation else Conversation(),
        answer=stored if stored is not None or not marked else Answer(events=[]),
        handoff=Handoff.model_validate_json(handoff) if handoff is not None else None,
        qualified=qualified is not None,
    )


def _each(replies: list[Any], parse: Callable[[Any], T]) -> list[T | Exception]:
    """Each reply parsed, or the error in its place (a reply that does not parse is that error)."""
    results: list[T | Exception] = []
    for reply in replies:
        if isinstance(reply, Exception):
            results.append(reply)
            continue
        try:
            results.append(parse(reply))
        except ValueError as exc:  # pydantic's ValidationError is one: stored JSON that no longer parses
            results.append(exc)
    return results


def _errors(replies: list[Any]) -> list[Exception | None]:
    return [reply if isinstance(reply, Exception) else None for reply in replies]
