"""Delivering one batch to one pixel: retries, a circuit breaker per pixel, splitting rejected batches, the
sent record, partial answers, and dry runs.

Meta rejects a whole request when one event in it is invalid (reference §1). Pre-validation catches what we
can know; for the rest (an expired click id, a rule Meta adds), a batch rejected with code 100 is split in
halves and each half sent again, so the bad event ends alone and dead-lettered with Meta's answer while its
neighbours are delivered, once each: the halves are disjoint and only accepted requests write the record.

An accepted request whose ``events_received`` is smaller than the events sent (undocumented, reference §7)
accounts for only some of them, and Meta does not say which: none of them is marked sent. Each is resent
alone only where Meta documents deduplication by ``event_id`` (``DEDUPLICATED_SOURCES``: browser/app events,
§8); every other event — all of ours, business messaging and CRM — is an unknown outcome.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import structlog
from eventbus import Client, Keys
from eventbus.envelope import format_timestamp, now
from pydantic import SecretStr
from redis.exceptions import RedisError
from servicekit import UpstreamUnavailable
from servicekit.outcomes import Answer, OutcomeUnknown
from servicekit.upstream import Breakers, with_retries

from facebook_capi.clients.graph import EventsReceived, GraphClient
from facebook_capi.errors import EventRejected, GraphRejected
from facebook_capi.keys import ServiceKeys
from facebook_capi.ledger import SentLedger
from facebook_capi.stats import BATCH_SIZE, REQUESTS

log = structlog.get_logger("facebook_capi.delivery")

DRY_RUN_KEPT = 1000
#: Action sources whose events Meta documents deduplicating by ``event_id`` (a browser or app event and its
#: server copy, within 48 h: reference §8). Business messaging and CRM events are not among them.
DEDUPLICATED_SOURCES = frozenset({"website", "app"})


@dataclass(frozen=True)
class Destination:
    """Where a batch goes; events only share a request when all of this is equal. The token's repr is
    masked (SecretStr), so a destination can be logged."""

    pixel_id: str
    access_token: SecretStr
    test_event_code: str | None = None


@dataclass(frozen=True)
class Retrying:
    attempts: int = 4
    initial: float = 0.2
    maximum: float = 5.0


class Sender:
    def __init__(
        self,
        graph: GraphClient,
        ledger: SentLedger,
        *,
        breakers: Breakers,
        retrying: Retrying,
        api_version: str,
        dry_run: DryRunLog | None = None,
    ) -> None:
        self._graph, self._ledger, self._breakers = graph, ledger, breakers
        self._retrying, self._api_version, self._dry_run = retrying, api_version, dry_run

    async def deliver(self, to: Destination, events: list[dict[str, Any]]) -> list[BaseException | None]:
        if self._dry_run is not None:
            await self._dry_run.record(to, events, api_version=self._api_version)
            return [None] * len(events)
        try:
            received = await self._post(to, events)
        except EventRejected as exc:
            REQUESTS.labels("rejected").inc()
            if len(events) == 1:
                return [exc]
            log.info(
                "capi_batch_split",
                pixel_id=to.pixel_id,
                events=len(events),
                code=exc.code,
                subcode=exc.subcode,
            )
            half = len(events) // 2
            left, right = await asyncio.gather(
                self.deliver(to, events[:half]), self.deliver(to, events[half:])
            )
            return [*left, *right]
        except GraphRejected as exc:
            REQUESTS.labels("rejected").inc()
            log.error(
                "capi_request_rejected",
                pixel_id=to.pixel_id,
                code=exc.code,
                subcode=exc.subcode,
                error=exc.meta_message,
            )
            return [exc] * len(events)
        except OutcomeUnknown as exc:
            REQUESTS.labels("unknown").inc()
            return [exc] * len(events)
        except UpstreamUnavailable as exc:
            REQUESTS.labels("unavailable").inc()
            return [exc] * len(events)
        REQUESTS.labels("accepted").inc()
        if received.events_received < len(events):
            return await self._partly_accounted(to, events, received)
        try:
            await self._ledger.mark_sent(
                to.pixel_id, [e["event_id"] for e in events], fbtrace_id=received.fbtrace_id
            )
        except (RedisError, OSError) as exc:
            # Meta has the events: failing them now would send them again. The processed-id set still guards
            # replays once the consumer acknowledges.
            log.error("capi_sent_record_failed", pixel_id=to.pixel_id, events=len(events), error=str(exc))
        return [None] * len(events)

    async def _partly_accounted(
        self, to: Destination, events: list[dict[str, Any]], received: EventsReceived
    ) -> list[BaseException | None]:
        # Meta took the request but accounted for fewer events than were sent, without saying which (§7):
        # none can be marked sent, and a resend may count twice where Meta does not deduplicate.
        log.error(
            "capi_events_unaccounted",
            pixel_id=to.pixel_id,
            sent=len(events),
            received=received.events_received,
            fbtrace_id=received.fbtrace_id,
        )
        answer = Answer("partial_batch", 200)
        unknown = OutcomeUnknown(
            f"graph: Meta accounted for {received.events_received} of {len(events)} events "
            f"(fbtrace_id {received.fbtrace_id})",
            answer=answer,
        )
        results: list[BaseException | None] = []
        for event in events:
            if event.get("action_source") in DEDUPLICATED_SOURCES and len(events) > 1:
                [alone] = await self.deliver(to, [event])  # a second copy collapses on event_id
                results.append(alone)
            else:
                results.append(unknown)
        return results

    async def _post(self, to: Destination, events: list[dict[str, Any]]) -> EventsReceived:
        BATCH_SIZE.observe(len(events))

        async def once() -> EventsReceived:
            return await self._graph.send_events(
                to.pixel_id, events, access_token=to.access_token, test_event_code=to.test_event_code
            )

        r = self._retrying
        return await with_retries(
            lambda: self._breakers.call(to.pixel_id, once),
            attempts=r.attempts,
            initial=r.initial,
            maximum=r.maximum,
        )


class DryRunLog:
    """The requests dry-run mode would have sent, newest first, the token left out."""

    def __init__(self, redis: Client, keys: Keys) -> None:
        self._redis = redis
        self._key = ServiceKeys(keys).dry_run()

    async def record(self, to: Destination, events: list[dict[str, Any]], *, api_version: str) -> None:
        body: dict[str, Any] = {"data": events}
        if to.test_event_code:
            body["test_event_code"] = to.test_event_code
        entry = {
            "method": "POST",
            "path": f"/{api_version}/{to.pixel_id}/events",
            "pixel_id": to.pixel_id,
            "body": body,
            "recorded_at": format_timestamp(now()),
        }
        async with self._redis.pipeline(transaction=True) as pipe:  # one key: one slot
            pipe.lpush(self._key, json.dumps(entry))
            pipe.ltrim(self._key, 0, DRY_RUN_KEPT - 1)
            await pipe.execute()
        log.info("capi_dry_run_recorded", pixel_id=to.pixel_id, events=len(events))

    async def latest(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = await self._redis.lrange(self._key, 0, limit - 1)
        return [json.loads(row) for row in rows]
