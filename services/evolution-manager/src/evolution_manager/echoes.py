"""The WhatsApp message ids of what this service sent (``sendText``'s answer), so that the echo of one of our
own sends is not taken for a person typing on the phone.

Evolution reports our sends as ``send.message`` (reference §10), which is ignored by event name; a
``messages.upsert`` with ``key.fromMe`` is a person on the business's phone or another linked device. Some
servers have been reported to echo API sends as ``messages.upsert`` too (evolution-api#1340, and Baileys with
``emitOwnEvents``): the id tells those apart, since the upsert of a send carries the id sendText returned.

One string key per sent id, with the delivery records' lifetime. An echo that reaches us before sendText's
answer was recorded (the webhook races the HTTP answer) cannot be recognised: it would be shown as a phone
message. That race only exists on servers that echo sends as ``messages.upsert``.
"""

from __future__ import annotations

from datetime import timedelta

from eventbus import Client, Keys

from evolution_manager.keys import ServiceKeys


class SentIds:
    def __init__(self, redis: Client, keys: Keys, *, ttl: timedelta) -> None:
        self._redis = redis
        self._keys = ServiceKeys(keys)
        self._ttl_ms = int(ttl.total_seconds() * 1000)

    async def remember(self, instance_id: str, message_id: str) -> None:
        await self._redis.set(self._keys.sent_message(instance_id, message_id), "1", px=self._ttl_ms)

    async def sent_by_us(self, instance_id: str, message_id: str) -> bool:
        return bool(await self._redis.exists(self._keys.sent_message(instance_id, message_id)))
