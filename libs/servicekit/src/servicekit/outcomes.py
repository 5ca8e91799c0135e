"""The outcome of every outbound side effect (a WhatsApp text, a Meta event, an Autentique document), in one
model every service uses::

    claimed ──► sent       the upstream confirmed it
       │
       ├──► failed         proved nothing went out (refused, DNS, connect/pool timeout, circuit open, 429, a
       │                   documented "not processed" answer): the claim is released, a retry may send it
       └──► unknown        it may have gone out (a read timeout after the request was written, a reset after
                           writing, a 5xx, a 2xx we cannot read, a crash between the call and the mark):
                           never resent automatically

An unknown outcome leaves the handler as :class:`OutcomeUnknown` (a ``PermanentFailure``): the event is
dead-lettered at once, its error naming the answer's class (status, error kind — never a body), the record
is listed in the service's ``/ops/outcomes`` and counted in ``side_effect_outcomes_total``. An operator then
decides (``routes.py``): *delivered* (the record becomes sent) or *resend* (the record is released, logged
with who asked); either way the dead letter is replayed, so the rest of the event (later elements of a reply)
goes on and what is sent is skipped. Where the upstream lets us look (Evolution's ``findMessages``,
Autentique's document list), the service reconciles before declaring unknown.

Errors (each also what ``servicekit.errors`` maps to HTTP):

UpstreamUnavailable (servicekit)
  UpstreamDown          nothing went out, the upstream is down: also an ``eventbus.Outage`` (wait, no attempt)
    CircuitOpen         (upstream.py) the breaker did not even try
  OutcomeUnknown        it may have gone out: also a ``PermanentFailure`` (dead letter, never retried)
"""

from __future__ import annotations

import enum
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

import structlog
from eventbus import Bus, Client, DeadLetters, Outage, PermanentFailure
from prometheus_client import Counter

from servicekit import lua
from servicekit.errors import NotFound, UpstreamUnavailable

log = structlog.get_logger("servicekit.outcomes")

OUTCOMES = Counter(
    "side_effect_outcomes_total",
    "Outbound side effects by outcome (sent, failed, unknown, resolved_delivered, resolved_resend)",
    ["service", "effect", "outcome"],
)

#: What a dead letter of an unknown outcome is recognised by (reason, or the error's class name while the
#: bus names every PermanentFailure ``permanent_failure``).
REASON = "outcome_unknown"


@dataclass(frozen=True)
class Answer:
    """The class of what the upstream answered: safe to log, store and show (no body, no personal data)."""

    kind: str  # ReadTimeout, RemoteProtocolError, server_error, unreadable_body, crashed_mid_call, partial_batch…
    status: int | None = None

    def __str__(self) -> str:
        return f"HTTP {self.status} ({self.kind})" if self.status is not None else self.kind


class UpstreamDown(UpstreamUnavailable, Outage):
    """The request never reached the upstream: nothing was done, waiting (not failing) is the answer."""


class OutcomeUnknown(UpstreamUnavailable, PermanentFailure):
    """The side effect may have happened: it must not be repeated without an operator's decision."""

    reason = REASON

    def __init__(self, message: str, *, answer: Answer) -> None:
        super().__init__(f"{REASON}: {message}")
        self.answer = answer


def is_outcome_unknown(reason: str, error: str) -> bool:
    """Whether a dead letter (its ``reason`` and ``error``) is an unknown outcome."""
    return reason == REASON or error.startswith(f"{OutcomeUnknown.__name__}:")


class State(enum.Enum):
    CLAIMED = "claimed"  # ours to perform now
    IN_FLIGHT = "in_flight"  # claimed by an earlier handling that has not finished (or died mid-call)
    SENT = "sent"
    UNKNOWN = "unknown"


class Decision(enum.Enum):
    DELIVERED = "delivered"
    RESEND = "resend"


@dataclass(frozen=True)
class Record:
    state: State
    ref: str = ""  # the upstream's id of what was sent (a message id, a trace id) when known
    claimed_ms: int = 0  # when an in-flight claim was taken (0: unknown, an older record)
    holder: str = ""  # who took an in-flight claim: the event id whose handling performs the effect

    def abandoned(self, holder: str, *, after_ms: int) -> bool:
        """Whether an in-flight claim is left by a handling that will never finish: one of the same event
        (the bus leases an event id to one handling at a time, so the earlier one is over — crashed, timed
        out, cancelled), or one older than ``after_ms`` (a copy of the effect under another event id)."""
        return self.holder == holder or time.time() * 1000 - self.claimed_ms >= after_ms


@dataclass(frozen=True)
class Unknown:
    """One unknown outcome awaiting an operator, as ``/ops/outcomes`` lists it."""

    effect: str
    id: str
    event_id: str
    channel: str
    answer: str
    at: float
    company_id: str = ""  # whose effect it was: the backoffice shows a company only its own


_CLAIMED = "sending"
CLAIM_SCRIPT = lua.script("servicekit", "claim_record")


def parse(value: bytes | str) -> Record:
    """A stored value as a record. ``sending`` (no time) and bare values are what earlier releases wrote:
    an in-flight claim and a sent mark."""
    text = value.decode() if isinstance(value, bytes) else value
    head, _, rest = text.partition(":")
    if head == _CLAIMED:
        at, _, holder = rest.partition(":")
        return Record(State.IN_FLIGHT, claimed_ms=int(at) if at.isdigit() else 0, holder=holder)
    if head == "unknown":
        return Record(State.UNKNOWN, ref=rest)
    return Record(State.SENT, ref=rest if head == "sent" else text)


class Records:
    """The records of one kind of side effect (``effect``) of one service: one string key per effect id,
    named by the service (``key_of``) so that each lives in the slot the service chose.

    The unknown ones are also indexed in one hash per service (``index_key``), the list an operator works
    from; it is written and read in commands of its own (its own slot on a cluster).
    """

    def __init__(
        self,
        redis: Client,
        *,
        service: str,
        effect: str,
        key_of: Callable[[str], str],
        index_key: str,
        ttl: timedelta,
    ) -> None:
        self.redis, self.service, self.effect = redis, service, effect
        self._key_of, self._index, self._ttl_ms = key_of, index_key, int(ttl.total_seconds() * 1000)
        self._claim = redis.register_script(CLAIM_SCRIPT)

    @property
    def index_key(self) -> str:
        """Where this service indexes its unknown outcomes (a :class:`Desk` lists them from there)."""
        return self._index

    def key(self, effect_id: str) -> str:
        return str(self._key_of(effect_id))

    async def claim(self, effect_id: str, *, holder: str) -> Record:
        """Take the claim for ``holder`` (CLAIMED), or say what an earlier handling left (SENT, UNKNOWN,
        IN_FLIGHT). The claim never expires before the record: a crash must not make it claimable again."""
        now_ms = int(time.time() * 1000)
        value = await self._claim(
            keys=[self.key(effect_id)], args=[f"{_CLAIMED}:{now_ms}:{holder}", self._ttl_ms]
        )
        return Record(State.CLAIMED, claimed_ms=now_ms, holder=holder) if value is None else parse(value)

    async def get(self, effect_id: str) -> Record | None:
        value = await self.redis.get(self.key(effect_id))
        return None if value is None else parse(value)

    async def sent(self, effect_id: str, ref: str = "") -> None:
        await self.redis.set(self.key(effect_id), f"sent:{ref}", px=self._ttl_ms)
        OUTCOMES.labels(self.service, self.effect, "sent").inc()

    async def sent_many(self, effect_ids: list[str], ref: str = "") -> None:
        """Mark a batch sent in one round trip (one key per record, each in its own slot: no transaction)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for effect_id in effect_ids:
                pipe.set(self.key(effect_id), f"sent:{ref}", px=self._ttl_ms)
            await pipe.execute()
        OUTCOMES.labels(self.service, self.effect, "sent").inc(len(effect_ids))

    async def failed(self, effect_id: str) -> None:
        """Proved not sent: release the claim so that a later try may send."""
        await self.redis.delete(self.key(effect_id))
        OUTCOMES.labels(self.service, self.effect, "failed").inc()

    async def unknown(
        self, effect_id: str, *, answer: Answer, event_id: str, channel: str, company_id: str = ""
    ) -> None:
        entry = Unknown(self.effect, effect_id, event_id, channel, str(answer), time.time(), company_id)
        await self.redis.set(self.key(effect_id), f"unknown:{answer}", px=self._ttl_ms)
        await self.redis.hset(self._index, f"{self.effect}|{effect_id}", json.dumps(asdict(entry)))
        OUTCOMES.labels(self.service, self.effect, "unknown").inc()
        log.error(
            "side_effect_outcome_unknown",
            effect=self.effect,
            effect_id=effect_id,
            answer=str(answer),
            event_id=event_id,
        )

    async def resolve(self, effect_id: str, decision: Decision, *, operator: str) -> Unknown | None:
        """An operator's decision on an unknown outcome; returns what was listed (None if nothing was)."""
        field = f"{self.effect}|{effect_id}"
        raw = await self.redis.hget(self._index, field)
        if raw is None:
            return (
                None  # not awaiting a decision (already resolved, or never unknown): leave the record alone
            )
        if decision is Decision.DELIVERED:
            await self.redis.set(self.key(effect_id), f"sent:resolved-by-{operator}", px=self._ttl_ms)
        else:
            await self.redis.delete(self.key(effect_id))
        await self.redis.hdel(self._index, field)
        OUTCOMES.labels(self.service, self.effect, f"resolved_{decision.value}").inc()
        log.warning(
            "side_effect_outcome_resolved",
            effect=self.effect,
            effect_id=effect_id,
            decision=decision.value,
            operator=operator,
        )
        return Unknown(**json.loads(raw))


async def list_unknown(redis: Client, index_key: str) -> list[Unknown]:
    """Every unknown outcome of one service awaiting an operator, oldest first."""
    rows = await redis.hgetall(index_key)
    return sorted((Unknown(**json.loads(v)) for v in rows.values()), key=lambda u: u.at)


@dataclass
class Desk:
    """Where an operator's decision is recorded, by the service that owns the records: the record is resolved
    and the event's dead letter (this service's group) is named, for the operator's tool to replay, so what
    the event still had to do goes on and what is now marked sent is skipped."""

    bus: Bus
    group: str
    index_key: str
    records: dict[str, Records]

    async def unknown(self) -> list[Unknown]:
        return await list_unknown(self.bus.redis, self.index_key)

    async def resolve(
        self, effect: str, effect_id: str, decision: Decision, *, operator: str
    ) -> dict[str, Any]:
        records = self.records.get(effect)
        if records is None:
            raise NotFound(f"no side effect {effect!r} here")
        listed = await records.resolve(effect_id, decision, operator=operator)
        if listed is None:
            raise NotFound(f"no unknown outcome {effect}/{effect_id}")
        letter: dict[str, str] | None = None
        letters = DeadLetters(self.bus, listed.channel, self.group) if listed.channel else None
        after: str | None = None
        # An effect of an HTTP request (no event, no dead letter) is retried by its caller instead.
        while letters is not None and (page := await letters.list(count=100, after=after)):
            match = next((d for d in page if d.event_id == listed.event_id), None)
            if match is not None:
                letter = {"channel": listed.channel, "group": self.group, "id": match.id}
                break
            after = page[-1].id
        # The dead letter is named, not replayed here: replaying appends to the channel's stream, which a
        # consumer's Redis user may not do (eventbus.acl: it cannot forge events on what it reads). The
        # operator's tool replays it (backoffice-api's /v1/ops/outcomes, `wolfgang outcomes resolve`).
        return {"effect": effect, "id": effect_id, "decision": decision.value, "dead_letter": letter}
