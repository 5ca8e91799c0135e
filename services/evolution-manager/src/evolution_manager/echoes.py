"""The WhatsApp message ids of what this service sent (``sendText``'s answer), so that the echo of one of our
own sends is not taken for a person typing on the phone.

Evolution reports our sends as ``send.message`` (reference §10), which is ignored by event name; a
``messages.upsert`` with ``key.fromMe`` is a person on the business's phone or another linked device. Some
servers have been reported to echo API sends as ``messages.upsert`` too (evolution-api#1340, and Baileys with
``emitOwnEvents``): the id tells those apart, since the upsert of a send carries the id sendText returned.

The sent ids are members of one set per instance and hour of sending, each set kept a day
(``EVOLUTION_ECHO_TTL``) past its hour: an echo comes within Evolution's webhook retries (~25 minutes at most);
what the send itself needs for the bus's 8-day replay window is its outcome record (``deliveries.py``), so that
is the one record per send kept that long. A member costs ~60 B where a key of its own cost ~136 B (issue 26);
the price is on the rare ``fromMe`` upsert, which looks the id up in each hour's set of the last day, in one
round trip. The echo may arrive before
sendText's answer (Evolution fires the webhook just before answering, reference §10), so while a text is being
sent a second key names it by chat and text (a SHA-256) for at most ``SENDING`` : a ``fromMe`` upsert of that
text to that chat meanwhile is the echo. A person typing the very same text to the same chat within that call
would be taken for the echo too; nothing else could tell them apart before the id is known.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from datetime import timedelta

from eventbus import Client, Keys

from evolution_manager.keys import ServiceKeys

#: How long a send in progress is remembered by chat and text: longer than one sendText with its retries.
SENDING = timedelta(minutes=2)
HOUR_MS = 3_600_000


def _digest(number: str, text: str) -> str:
    return hashlib.sha256(f"{number.lstrip('+')}\0{text}".encode()).hexdigest()


class SentIds:
    def __init__(
        self, redis: Client, keys: Keys, *, ttl: timedelta, clock: Callable[[], float] = time.time
    ) -> None:
        self._redis = redis
        self._keys = ServiceKeys(keys)
        self._ttl_ms = int(ttl.total_seconds() * 1000)
        self._clock = clock

    def _hour(self) -> int:
        return int(self._clock() * 1000) // HOUR_MS

    async def remember(self, instance_id: str, message_id: str) -> None:
        hour = self._hour()
        key = self._keys.sent_messages(instance_id, hour)
        pipe = self._redis.pipeline(transaction=False)
        pipe.sadd(key, message_id)
        pipe.pexpireat(key, (hour + 1) * HOUR_MS + self._ttl_ms)
        await pipe.execute()

    async def sent_by_us(self, instance_id: str, message_id: str) -> bool:
        """Whether ``message_id`` was sent within the TTL: a member of one of those hours' sets."""
        hour = self._hour()
        hours = math.ceil(self._ttl_ms / HOUR_MS) + 1
        pipe = self._redis.pipeline(transaction=False)
        for back in range(hours):
            pipe.sismember(self._keys.sent_messages(instance_id, hour - back), message_id)
        return any(await pipe.execute())

    async def sending(self, instance_id: str, number: str, text: str) -> None:
        """A text is about to go out to ``number`` (digits, with or without ``+``)."""
        key = self._keys.sending(instance_id, _digest(number, text))
        await self._redis.set(key, "1", px=int(SENDING.total_seconds() * 1000))

    async def done_sending(self, instance_id: str, number: str, text: str) -> None:
        await self._redis.delete(self._keys.sending(instance_id, _digest(number, text)))

    async def echo(self, instance_id: str, message_id: str | None, number: str, text: str | None) -> bool:
        """Whether a ``fromMe`` upsert is one of our sends: its id is one sendText returned, or its text is
        being sent to that chat right now (the echo overtook sendText's answer)."""
        if message_id and await self.sent_by_us(instance_id, message_id):
            return True
        if text is None:
            return False
        return bool(await self._redis.exists(self._keys.sending(instance_id, _digest(number, text))))
