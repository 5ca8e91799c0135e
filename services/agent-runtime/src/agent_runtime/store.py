"""Per-lead state in Redis: the conversation, the answer to each received message, the handoff, and
whether the lead was qualified.

Every key of a lead carries the hash tag ``{lead_…}``, so that one Lua call (``commit``) can write the
conversation and the answer together, on Redis Cluster too. The answer is stored *before* it is published,
keyed by the received event's id: a replayed or re-run message finds it and publishes the very same events
again (same ids, same dedupe keys, so the bus drops the copies) instead of thinking twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from eventbus import Keys
from pydantic import BaseModel, ConfigDict
from redis.asyncio import Redis

from agent_runtime import SERVICE
from agent_runtime.conversation import Conversation

_COMMIT = """
local done = redis.call('GET', KEYS[1])
if done then return {0, done} end
local current = redis.call('GET', KEYS[2])
local version = 0
if current then version = tonumber(cjson.decode(current)['version']) or 0 end
if version ~= tonumber(ARGV[5]) then return {2, ''} end
if ARGV[7] == '1' and not redis.call('SET', KEYS[4], '1', 'NX') then return {3, ''} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
if ARGV[6] ~= '' then redis.call('SET', KEYS[3], ARGV[6]) end
return {1, ARGV[1]}
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
    conversation: Conversation
    answer: Answer | None
    handoff: Handoff | None
    qualified: bool


class Store:
    def __init__(
        self, redis: Redis, keys: Keys, *, conversation_ttl: timedelta, answer_ttl: timedelta
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._conversation_ttl_ms = int(conversation_ttl.total_seconds() * 1000)
        self._answer_ttl_ms = int(answer_ttl.total_seconds() * 1000)
        self._commit = redis.register_script(_COMMIT)

    def _key(self, lead_id: str, *parts: str) -> str:
        return str(self._keys.service(SERVICE, f"{{{lead_id}}}", *parts))

    async def load(self, lead_id: str, event_id: str) -> Snapshot:
        conversation, answer, handoff, qualified = await self._redis.mget(
            self._key(lead_id, "conversation"),
            self._key(lead_id, "answer", event_id),
            self._key(lead_id, "handoff"),
            self._key(lead_id, "qualified"),
        )
        state = Conversation.model_validate_json(conversation) if conversation else Conversation()
        return Snapshot(
            conversation=state,
            answer=Answer.model_validate_json(answer) if answer else None,
            handoff=Handoff.model_validate_json(handoff) if handoff else None,
            qualified=qualified is not None,
        )

    async def commit(
        self,
        lead_id: str,
        event_id: str,
        answer: Answer,
        conversation: Conversation,
        *,
        expected_version: int,
        handoff: Handoff | None = None,
        qualify: bool = False,
    ) -> Answer:
        """Store the answer and the new conversation at once; returns the answer to publish, which is an
        earlier one when this message was answered already."""
        status, stored = await self._commit(
            keys=[
                self._key(lead_id, "answer", event_id),
                self._key(lead_id, "conversation"),
                self._key(lead_id, "handoff"),
                self._key(lead_id, "qualified"),
            ],
            args=[
                answer.model_dump_json(),
                self._answer_ttl_ms,
                conversation.model_dump_json(),
                self._conversation_ttl_ms,
                expected_version,
                handoff.model_dump_json() if handoff is not None else "",
                "1" if qualify else "0",
            ],
        )
        if status in (2, 3):
            raise ConversationMoved(f"conversation of {lead_id} changed while answering {event_id}")
        return Answer.model_validate_json(stored)

    async def handoff(self, lead_id: str) -> Handoff | None:
        raw = await self._redis.get(self._key(lead_id, "handoff"))
        return Handoff.model_validate_json(raw) if raw is not None else None

    async def set_handoff(self, handoff: Handoff) -> None:
        await self._redis.set(self._key(handoff.lead_id, "handoff"), handoff.model_dump_json())
