"""Metrics from the bucket counters the projections keep: series, totals and conversion rates over a range.

Counting happens on consume (``projections._count``): a report reads at most ``MAX_BUCKETS`` hashes, never
the events. Reports are cached for a few seconds per company and aligned range, since dashboards poll.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from eventbus import Client

from backoffice_api.keyspace import Keyspace
from backoffice_api.projections import BUCKETS, COUNTERS
from backoffice_api.store import ReadModels

MAX_BUCKETS = 2016  # a week of 5-minute buckets


class RangeTooLarge(ValueError):
    pass


def starts(width: str, since: datetime, until: datetime) -> list[int]:
    """Bucket starts (ms) covering [since, until)."""
    size = BUCKETS[width][0]
    first = int(since.timestamp() * 1000) // size * size
    end = int(until.timestamp() * 1000)
    count = max(0, -(-(end - first) // size))
    if count > MAX_BUCKETS:
        raise RangeTooLarge(
            f"{count} buckets of {width}; at most {MAX_BUCKETS}: narrow the range or widen the bucket"
        )
    return [first + n * size for n in range(count)]


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def rates(totals: dict[str, int]) -> dict[str, float | None]:
    return {
        "qualification": _ratio(totals["leads_qualified"], totals["leads_created"]),
        "contract": _ratio(totals["contracts_created"], totals["leads_qualified"]),
        "signature": _ratio(totals["contracts_signed"], totals["contracts_created"]),
        "lead_to_won": _ratio(totals["contracts_signed"], totals["leads_created"]),
    }


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


class Reports:
    def __init__(
        self, redis: Client, keyspace: Keyspace, models: ReadModels, *, cache_for: timedelta
    ) -> None:
        self.redis = redis
        self.ks = keyspace
        self.models = models
        self.cache_for = cache_for

    async def report(self, company: str, width: str, since: datetime, until: datetime) -> dict[str, Any]:
        bucket_starts = starts(width, since, until)
        cache_key = self.ks.cache(
            company, f"metrics:{width}:{bucket_starts[0] if bucket_starts else 0}:{len(bucket_starts)}"
        )
        if self.cache_for:
            cached = await self.redis.get(cache_key)
            if cached is not None:
                return dict(json.loads(cached))
        rows = await self.models.buckets(company, width, bucket_starts)
        series = []
        totals = dict.fromkeys(COUNTERS, 0)
        for start, row in zip(bucket_starts, rows, strict=True):
            counts = {name: int(row.get(name, 0)) for name in COUNTERS}
            for name, value in counts.items():
                totals[name] += value
            series.append({"start": _iso(start), **counts})
        report = {
            "bucket": width,
            "from": _iso(bucket_starts[0]) if bucket_starts else None,
            "to": _iso(bucket_starts[-1] + BUCKETS[width][0]) if bucket_starts else None,
            "series": series,
            "totals": totals,
            "rates": rates(totals),
        }
        if self.cache_for:
            await self.redis.set(cache_key, json.dumps(report), px=int(self.cache_for.total_seconds() * 1000))
        return report
