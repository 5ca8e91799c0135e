"""Per-instance webhook rate limits: a moving window per instance name, in this process (``limits``).

In process, not in Redis: the limit protects this replica's event loop and the bus from one instance's
flood (a leaked secret, a runaway Evolution), and costs no round trip on the hot path. With N replicas an
instance may send N times the limit, which is still bounded. A refusal is 429 with ``Retry-After``: Evolution
retries it (429 is not in its non-retryable list, reference §4), so nothing is lost.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from servicekit import RateLimited


class InstanceRateLimits:
    def __init__(self, spec: str) -> None:
        """``spec`` in ``limits``' notation, e.g. ``"50/second;1500/minute"``; every item must allow."""
        self._items: list[RateLimitItem] = parse_many(spec)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    async def take(self, instance: str) -> None:
        """Count one webhook of ``instance``; raise :class:`RateLimited` (429) when a window is full."""
        for item in self._items:
            if not await self._limiter.hit(item, instance):
                stats = await self._limiter.get_window_stats(item, instance)
                retry_after = max(1, math.ceil(stats.reset_time - time.time()))
                raise RateLimited(
                    f"too many webhooks for this instance (limit {item}); retry in {retry_after} s",
                    retry_after=retry_after,
                )
