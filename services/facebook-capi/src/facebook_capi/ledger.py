"""What was sent: a per-(pixel, event id) record written once Meta accepted the event, checked before sending.

The consumer's processed-id set (marked with the acknowledgement) stops replays; this record closes the
window it leaves: a crash after Meta accepted an event and before the acknowledgement. Meta deduplicates
CRM events by `event_id`, but not business-messaging ones at all (reference §2), so for those this is the
only guard. The in-flight claim keeps two runs of one event (a reclaim while the first still waits for its
batch) from both sending; it expires by itself if its holder dies.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Literal

from eventbus import Client, Keys

from facebook_capi.keys import ServiceKeys

#: Longer than anything can be replayed (the bus keeps processed ids 8 days, streams 7) and than Meta's
#: 7-day window: an event older than that is refused before this record is ever consulted.
SENT_RETENTION = timedelta(days=9)
# KEYS: sent record, claim (ServiceKeys.ledger: one slot); ARGV: claim ttl ms → 0 already sent, 1 claimed now,
# 2 claimed by another run.
_BEGIN = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then return 1 end
return 2
"""


class SentLedger:
    def __init__(self, redis: Client, keys: Keys, *, claim_ttl: timedelta = timedelta(minutes=2)) -> None:
        self._redis, self._keys, self._claim_ttl = redis, ServiceKeys(keys), claim_ttl
        self._begin = redis.register_script(_BEGIN)

    async def begin(self, pixel_id: str, event_id: str) -> Literal["sent", "claimed", "busy"]:
        """One round trip: already sent, claimed by us now, or claimed by another run."""
        result = await self._begin(
            keys=self._keys.ledger(pixel_id, event_id),
            args=[int(self._claim_ttl.total_seconds() * 1000)],
        )
        return ("sent", "claimed", "busy")[int(result)]

    async def was_sent(self, pixel_id: str, event_id: str) -> bool:
        return bool(await self._redis.exists(self._keys.sent(pixel_id, event_id)))

    async def claim(self, pixel_id: str, event_id: str) -> bool:
        return bool(
            await self._redis.set(self._keys.claim(pixel_id, event_id), 1, nx=True, px=self._claim_ttl)
        )

    async def release(self, pixel_id: str, event_id: str) -> None:
        await self._redis.delete(self._keys.claim(pixel_id, event_id))

    async def mark_sent(self, pixel_id: str, event_ids: Iterable[str], *, fbtrace_id: str | None) -> None:
        # One key per event, each in its event's slot: a plain pipeline (on a cluster, one batch per node).
        async with self._redis.pipeline(transaction=False) as pipe:
            for event_id in event_ids:
                pipe.set(self._keys.sent(pixel_id, event_id), fbtrace_id or "", ex=SENT_RETENTION)
            await pipe.execute()
