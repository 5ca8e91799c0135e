"""Per-lead state in Redis: the lead record, the conversation, the answer to each received message, the
handoff, and whether the lead was qualified.

Every key of a lead carries one hash tag, its natural key ``{<company_id>:<lead_external_id>}``, which a
message names before the lead has an id: one ``MGET`` reads all of a lead's state, and one Lua call
(``commit``) writes the answer and the conversation together, in one Redis Cluster slot. The one key outside
it, ``lead-ref:<lead_id>`` (the admin API knows a lead by id only), is read and written on its own.

The answer is stored *before* it is published, keyed by the received event's id: a replayed or re-run
message finds it and publishes the very same events again (same ids, same dedupe keys, so the bus drops the
copies) instead of thinking twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from eventbus import Keys
from pydantic import BaseModel, ConfigDict

from agent_runtime import SERVICE
from agent_runtime.conversation import Conversation
from agent_runtime.leads import Lead, LeadKey, LeadRef
from agent_runtime.pipeline import Pipeline

# KEYS: answer, conversation, handoff, qualified, lead.
# ARGV: answer, answer TTL ms, conversation, conversation TTL ms, expected version, handoff or '',
#       '1' to qualify, the announced lead record or ''.
# Returns {1} when this answer was stored, {0, earlier answer} when the message was answered already,
# {2} when the conversation moved under us, {3} when the lead was qualified already.
_COMMIT = """
if ARGV[8] ~= '' then redis.call('SET', KEYS[5], ARGV[8]) end
local done = redis.call('GET', KEYS[1])
if done then return {0, done} end
local current = redis.call('GET', KEYS[2])
local version = 0
if current then version = tonumber(cjson.decode(current)['version']) or 0 end
if version ~= tonumber(ARGV[5]) then return {2} end
if ARGV[7] == '1' and not redis.call('SET', KEYS[4], '1', 'NX') then return {3} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
if ARGV[6] ~= '' then redis.call('SET', KEYS[3], ARGV[6]) end
return {1}
"""


class ConversationMoved(Exception):
    """The stored conversation changed between our read and our write: the consumer retries the message
    (its next attempt reads the new state). Only a handler overrunning its lease can cause it."""


class StoredEvent(BaseModel):
    wire: str
    dedupe_key: str


class Answer(BaseModel):
    """What the agent did about one received message: the events to publish (none while in handoff)."""

    model_config = ConfigDict(frozen=True)

    events: list[StoredEvent]


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
class Snapshot:
    lead: Lead | None  # None before the lead's first message was claimed
    conversation: Conversation
    answer: Answer | None
    handoff: Handoff | None
    qualified: bool


class Store:
    """``pipeline`` carries the commands (``pipeline.py``): concurrent handlers share round trips."""

    def __init__(
        self, pipeline: Pipeline, keys: Keys, *, conversation_ttl: timedelta, answer_ttl: timedelta
    ) -> None:
        self._pipeline = pipeline
        self._keys = keys
        self._conversation_ttl_ms = int(conversation_ttl.total_seconds() * 1000)
        self._answer_ttl_ms = int(answer_ttl.total_seconds() * 1000)
        self._commit = pipeline.script(_COMMIT)

    def key(self, lead: LeadKey, *parts: str) -> str:
        """``wb:svc:agent-runtime:{<company_id>:<lead_external_id>}:<parts…>``. Whatever the external id
        holds (even braces), every key of one lead starts with the same characters up to the first ``}``,
        so they share a slot."""
        return self._keys.service(SERVICE, f"{{{lead.company_id}:{lead.lead_external_id}}}", *parts)

    def keys_of(self, lead: LeadKey, event_id: str) -> list[str]:
        """The keys ``load`` reads and ``commit`` writes, in the script's order."""
        return [
            self.key(lead, "answer", event_id),
            self.key(lead, "conversation"),
            self.key(lead, "handoff"),
            self.key(lead, "qualified"),
            self.key(lead, "lead"),
        ]

    async def load(self, lead: LeadKey, event_id: str) -> Snapshot:
        """Everything about the lead that answering ``event_id`` needs, in one round trip."""
        answer, conversation, handoff, qualified, record = await self._pipeline.execute(
            "MGET", *self.keys_of(lead, event_id)
        )
        return Snapshot(
            lead=Lead.model_validate_json(record) if record is not None else None,
            conversation=Conversation.model_validate_json(conversation) if conversation else Conversation(),
            answer=Answer.model_validate_json(answer) if answer is not None else None,
            handoff=Handoff.model_validate_json(handoff) if handoff is not None else None,
            qualified=qualified is not None,
        )

    async def lead(self, lead: LeadKey) -> Lead | None:
        raw = await self._pipeline.execute("GET", self.key(lead, "lead"))
        return Lead.model_validate_json(raw) if raw is not None else None

    async def claim(self, candidate: Lead) -> Lead:
        """Store ``candidate`` unless the natural key has a lead already; the lead that holds it."""
        earlier = await self._pipeline.execute(
            "SET", self.key(candidate.key, "lead"), candidate.model_dump_json(), "NX", "GET", get=True
        )  # get=True: redis-py hands back the old value rather than "was it set"
        return candidate if earlier is None else Lead.model_validate_json(earlier)

    async def save_lead(self, lead: Lead) -> None:
        await self._pipeline.execute("SET", self.key(lead.key, "lead"), lead.model_dump_json())

    async def commit(
        self,
        lead: Lead,
        event_id: str,
        answer: Answer,
        conversation: Conversation,
        *,
        expected_version: int,
        handoff: Handoff | None = None,
        qualify: bool = False,
        announced: bool = False,
    ) -> Answer | None:
        """Store the answer and the new conversation at once (and, with ``announced``, that ``lead.created``
        was published). None when ours was stored; the earlier answer when this message was answered
        already, which is the one to publish."""
        reply = await self._commit(
            self.keys_of(lead.key, event_id),
            [
                answer.model_dump_json(),
                self._answer_ttl_ms,
                conversation.model_dump_json(),
                self._conversation_ttl_ms,
                expected_version,
                handoff.model_dump_json() if handoff is not None else "",
                "1" if qualify else "0",
                lead.model_dump_json() if announced else "",
            ],
        )
        status = reply[0]
        if status == 1:
            return None
        if status == 0:
            return Answer.model_validate_json(reply[1])
        raise ConversationMoved(f"conversation of {lead.lead_id} changed while answering {event_id}")

    def ref_key(self, lead_id: str) -> str:
        return self._keys.service(SERVICE, "lead-ref", lead_id)

    async def save_ref(self, ref: LeadRef) -> None:
        await self._pipeline.execute("SET", self.ref_key(ref.lead_id), ref.model_dump_json())

    async def find_ref(self, lead_id: str) -> LeadRef | None:
        raw = await self._pipeline.execute("GET", self.ref_key(lead_id))
        return LeadRef.model_validate_json(raw) if raw is not None else None

    async def handoff(self, lead: LeadKey) -> Handoff | None:
        raw = await self._pipeline.execute("GET", self.key(lead, "handoff"))
        return Handoff.model_validate_json(raw) if raw is not None else None

    async def set_handoff(self, lead: LeadKey, handoff: Handoff) -> None:
        await self._pipeline.execute("SET", self.key(lead, "handoff"), handoff.model_dump_json())
