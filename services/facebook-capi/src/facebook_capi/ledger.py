"""What was sent: one record per (pixel, event id) in servicekit's outcome model (``servicekit.outcomes``),
claimed before the event joins a batch, marked sent once Meta accounted for it, checked before sending.

The consumer's processed-id set (marked with the acknowledgement) stops replays; this record closes the
window it leaves: a crash after Meta accepted an event and before the acknowledgement. Meta documents no
deduplication of business-messaging events, nor of two server copies of a CRM event (reference §8), so for
those this is the only guard. A claim outlives a crash: the next handling of the event finds it in flight,
and since Meta offers no way to look an event up, the outcome is *unknown* (an operator decides), never a
second copy.

Except where this process knows better. A Redis outage can cut a handling short on either side of the call
to Meta: the claim's reply lost before anything was sent, or Meta's acceptance known but its record not
written. The bus then retries the event here first (an outage is not an attempt), and that retry must neither
report *unknown* an event this process knows was never sent, nor send again one it knows Meta took. So the
ledger remembers, in memory and bounded, what it could not write; a retry in another replica knows nothing of
it and stays with *unknown*, as it must.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import TypeVar

from eventbus import Client, Keys
from redis.exceptions import RedisError
from servicekit.outcomes import Answer, Record, Records, State

from facebook_capi import SERVICE
from facebook_capi.keys import ServiceKeys

#: Longer than anything can be replayed (the bus keeps processed ids 8 days, streams 7) and than Meta's
#: 7-day window: an event older than that is refused before this record is ever consulted.
SENT_RETENTION = timedelta(days=9)
EFFECT = "conversion"
#: Record ids remembered at most (each side): an outage's worth of in-flight events, not a second ledger.
REMEMBERED = 10_000

V = TypeVar("V")


def record_id(pixel_id: str, event_id: str) -> str:
    """A pixel id is ``[A-Za-z0-9_.-]+`` (companies.py): the first colon splits the two again."""
    return f"{pixel_id}:{event_id}"


class SentLedger:
    def __init__(self, redis: Client, keys: Keys) -> None:
        service_keys = ServiceKeys(keys)
        self.records = Records(
            redis,
            service=SERVICE,
            effect=EFFECT,
            key_of=lambda rid: service_keys.sent(*rid.split(":", 1)),
            index_key=service_keys.unknown_outcomes(),
            ttl=SENT_RETENTION,
        )
        self._not_sent: dict[str, bool] = {}  # claims whose handling never called Meta
        self._sent: dict[str, str] = {}  # accepted by Meta, record unwritten: the fbtrace id

    async def begin(self, pixel_id: str, event_id: str) -> Record:
        """One round trip: claimed by this handling now, or what an earlier one left (read in the light of
        what this process remembers of its own earlier handlings)."""
        rid = record_id(pixel_id, event_id)
        try:
            record = await self.records.claim(rid, holder=event_id)
        except (RedisError, OSError):
            _remember(self._not_sent, rid, True)  # the claim may be written; Meta was not called
            raise
        if record.state is State.IN_FLIGHT:
            if (trace := self._sent.get(rid)) is not None:
                await self.records.sent_many([rid], trace)
                del self._sent[rid]
                return Record(State.SENT, ref=trace)
            if self._not_sent.pop(rid, False):
                return Record(State.CLAIMED, claimed_ms=record.claimed_ms, holder=event_id)
        elif record.state is State.CLAIMED:
            self._not_sent.pop(rid, None)  # the claim is this handling's now: nothing left to excuse
        return record

    async def was_sent(self, pixel_id: str, event_id: str) -> bool:
        record = await self.records.get(record_id(pixel_id, event_id))
        return record is not None and record.state is State.SENT

    async def failed(self, pixel_id: str, event_id: str) -> None:
        """Meta proved not to have it: the claim is released, or remembered as releasable."""
        rid = record_id(pixel_id, event_id)
        try:
            await self.records.failed(rid)
        except (RedisError, OSError):
            _remember(self._not_sent, rid, True)
            raise

    async def unknown(
        self, pixel_id: str, event_id: str, *, answer: Answer, channel: str, company_id: str
    ) -> None:
        await self.records.unknown(
            record_id(pixel_id, event_id),
            answer=answer,
            event_id=event_id,
            channel=channel,
            company_id=company_id,
        )

    async def mark_sent(self, pixel_id: str, event_ids: Iterable[str], *, fbtrace_id: str | None) -> None:
        """Meta accounted for these events. When Redis cannot be told, they are remembered as sent (the next
        handling here writes the record) and the error is raised for the caller to log."""
        rids = [record_id(pixel_id, e) for e in event_ids]
        try:
            await self.records.sent_many(rids, fbtrace_id or "")
        except (RedisError, OSError):
            for rid in rids:
                _remember(self._sent, rid, fbtrace_id or "")
            raise


def _remember(memory: dict[str, V], rid: str, value: V) -> None:
    if len(memory) >= REMEMBERED:
        del memory[next(iter(memory))]  # the oldest: its outage is long over, or its event long retried
    memory[rid] = value
