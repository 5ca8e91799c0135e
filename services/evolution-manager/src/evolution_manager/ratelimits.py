"""Per-instance webhook rate limits: a token bucket per instance name, in this process.

In process, not in Redis: the limit protects this replica's event loop and the bus from one instance's
flood (a leaked secret, a runaway Evolution) and costs no round trip on the hot path. With N replicas an
instance may send N times the limit, which is still bounded. A refusal is 429 with ``Retry-After``: Evolution
retries it (429 is not in its non-retryable list, reference §4), so nothing is lost.

Written here rather than taken from ``limits``: its asyncio in-memory storage starts an expiry task on every
hit, and for moving windows hops to a thread each time; that cost 150-220 µs of CPU per webhook in
bench/evolution_webhooks.py, against about 1 µs for these few lines. Only authenticated, registered names
reach :meth:`take`, so the buckets are as many as the registry's instances.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from servicekit import RateLimited


@dataclass
class _Bucket:
    tokens: float
    at: float


class InstanceRateLimits:
    def __init__(self, *, per_second: float, burst: int) -> None:
        """``per_second`` tokens flow into each instance's bucket, up to ``burst``; a webhook takes one."""
        self._rate = per_second
        self._burst = burst
        self._buckets: dict[str, _Bucket] = {}

    def take(self, instance: str) -> None:
        """Count one webhook of ``instance``; raise :class:`RateLimited` (429) when its bucket is empty."""
        now = time.monotonic()
        bucket = self._buckets.get(instance)
        if bucket is None:
            bucket = self._buckets[instance] = _Bucket(float(self._burst), now)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.at) * self._rate)
        bucket.at = now
        if bucket.tokens < 1:
            retry_after = max(1, math.ceil((1 - bucket.tokens) / self._rate))
            raise RateLimited(
                f"more than {self._rate:g} webhooks/s (burst {self._burst}) for this instance;"
                f" retry in {retry_after} s",
                retry_after=retry_after,
            )
        bucket.tokens -= 1
