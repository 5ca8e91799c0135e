"""Which elements of a ``message.sent`` have gone out: one Redis key per ``correlation_id + index`` (the
catalog's idempotency key), written BEFORE the call to Evolution and checked first.

Evolution's sendText has no idempotency key, and the bus can run a handler again after a crash between the
call and its acknowledgement. So each element is *claimed* (``SET NX``) before it is sent, marked ``sent``
after, and released only when the call failed in a way that says it did not go out (an error answer, a
refused connection, an open circuit). A claim left by a crash mid-call is never sent again: at most once.
"""

from __future__ import annotations

import enum
from datetime import timedelta

from eventbus import Client, Keys

from evolution_manager.keys import ServiceKeys

_SENDING = b"sending"


class Claim(enum.Enum):
    CLAIMED = "claimed"  # ours to send now
    SENT = "sent"  # an earlier handling sent it
    UNCERTAIN = "uncertain"  # an earlier handling claimed it and never finished: it may have gone out


class Deliveries:
    def __init__(self, redis: Client, keys: Keys, *, ttl: timedelta) -> None:
        self.redis = redis
        self._keys = ServiceKeys(keys)
        self._ttl_ms = int(ttl.total_seconds() * 1000)

    def key(self, correlation_id: str, index: int) -> str:
        return self._keys.reply(correlation_id, index)

    async def claim(self, correlation_id: str, index: int) -> Claim:
        key = self.key(correlation_id, index)
        if await self.redis.set(key, _SENDING, nx=True, px=self._ttl_ms):
            return Claim.CLAIMED
        value = await self.redis.get(key)
        if value is None:  # expired between the two calls: long past the replay window, claim it again
            return await self.claim(correlation_id, index)
        return Claim.UNCERTAIN if value == _SENDING else Claim.SENT

    async def sent(self, correlation_id: str, index: int, message_id: str) -> None:
        await self.redis.set(self.key(correlation_id, index), f"sent:{message_id}", px=self._ttl_ms)

    async def release(self, correlation_id: str, index: int) -> None:
        await self.redis.delete(self.key(correlation_id, index))
