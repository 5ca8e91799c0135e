"""What was sent: one record per (pixel, event id) in servicekit's outcome model (``servicekit.outcomes``),
claimed before the event joins a batch, marked sent once Meta accounted for it, checked before sending.

The consumer's processed-id set (marked with the acknowledgement) stops replays; this record closes the
window it leaves: a crash after Meta accepted an event and before the acknowledgement. Meta documents no
deduplication of business-messaging events, nor of two server copies of a CRM event (reference §8), so for
those this is the only guard. A claim outlives a crash: the next handling of the event finds it in flight,
and since Meta offers no way to look an event up, the outcome is *unknown* (an operator decides), never a
second copy.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from eventbus import Client, Keys
from servicekit.outcomes import Answer, Record, Records, State

from facebook_capi import SERVICE
from facebook_capi.keys import ServiceKeys

#: Longer than anything can be replayed (the bus keeps processed ids 8 days, streams 7) and than Meta's
#: 7-day window: an event older than that is refused before this record is ever consulted.
SENT_RETENTION = timedelta(days=9)
EFFECT = "conversion"


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

    async def begin(self, pixel_id: str, event_id: str) -> Record:
        """One round trip: claimed by this handling now, or what an earlier one left."""
        return await self.records.claim(record_id(pixel_id, event_id), holder=event_id)

    async def was_sent(self, pixel_id: str, event_id: str) -> bool:
        record = await self.records.get(record_id(pixel_id, event_id))
        return record is not None and record.state is State.SENT

    async def failed(self, pixel_id: str, event_id: str) -> None:
        await self.records.failed(record_id(pixel_id, event_id))

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
        await self.records.sent_many([record_id(pixel_id, e) for e in event_ids], fbtrace_id or "")
