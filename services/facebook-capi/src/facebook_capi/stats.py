"""What happened to the events of each company: Prometheus counters for dashboards, and per-company counts in
Redis for the admin API (`GET /v1/companies/{id}/capi/stats`), which survive restarts and replicas."""

from __future__ import annotations

from typing import Literal

from eventbus import Client, Keys
from prometheus_client import Counter, Histogram

from facebook_capi.keys import ServiceKeys

Outcome = Literal[
    "sent",  # Meta accepted it
    "dry_run",  # recorded instead of sent
    "skipped_no_config",  # the company has no CAPI configuration
    "skipped_disabled",  # it has one, disabled
    "skipped_no_consent",  # the contact refused sharing their data with ad platforms (lead.created.ads_consent)
    "already_sent",  # a replay of an event Meta accepted before
    "lead_id_missing",  # a contract event without lead_id: sent with what is known
    "lead_unknown",  # a lead id this service never saw created: sent with what is known
    "click_without_waba",  # a click id but no WhatsApp Business Account id: sent as a CRM event
    "unknown",  # it may have reached Meta (a timeout, a 5xx, a partial answer, a crash): an operator decides
]

EVENTS = Counter("capi_events_total", "Conversions by catalog type and outcome", ["type", "outcome"])
REQUESTS = Counter("capi_requests_total", "Graph API requests by result", ["result"])
BATCH_SIZE = Histogram(
    "capi_batch_events", "Events per Graph API request", buckets=(1, 2, 5, 10, 50, 100, 250, 500, 1000)
)


class Stats:
    def __init__(self, redis: Client, keys: Keys) -> None:
        self._redis, self._keys = redis, ServiceKeys(keys)

    def _key(self, company_id: str) -> str:
        return self._keys.stats(company_id)

    async def count(self, company_id: str, event_type: str, outcome: Outcome) -> None:
        EVENTS.labels(event_type, outcome).inc()
        await self._redis.hincrby(self._key(company_id), outcome, 1)

    async def of(self, company_id: str) -> dict[str, int]:
        raw = await self._redis.hgetall(self._key(company_id))
        return {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}
