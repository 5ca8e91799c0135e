"""Rate limiting per API key: a token bucket in Redis, one Lua step, so every replica spends the same bucket.

``per_minute`` tokens flow in each minute up to ``burst``; a request takes one. The answer's headers say
``X-RateLimit-Limit`` (the sustained rate per minute), ``X-RateLimit-Remaining`` (requests that may be made
right now) and ``X-RateLimit-Reset`` (seconds until the bucket is full again); a refusal also says
``Retry-After`` (seconds until the next token).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from eventbus import Client

from backoffice_api.keyspace import Keyspace
from backoffice_api.store import lua


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_ms: int
    retry_ms: int

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.retry_ms / 1000))

    def headers(self) -> list[tuple[bytes, bytes]]:
        values = {
            b"x-ratelimit-limit": self.limit,
            b"x-ratelimit-remaining": self.remaining,
            b"x-ratelimit-reset": math.ceil(self.reset_ms / 1000),
        }
        out = [(name, str(value).encode()) for name, value in values.items()]
        if not self.allowed:
            out.append((b"retry-after", str(self.retry_after).encode()))
        return out


class RateLimiter:
    def __init__(self, redis: Client, keyspace: Keyspace) -> None:
        self.ks = keyspace
        self._bucket = redis.register_script(lua("token_bucket"))

    async def take(self, subject: str, *, per_minute: int, burst: int) -> Decision:
        allowed, remaining, reset_ms, retry_ms = await self._bucket(
            keys=[self.ks.rate(subject)], args=[per_minute / 60_000, burst]
        )
        return Decision(bool(allowed), per_minute, int(remaining), int(reset_ms), int(retry_ms))
