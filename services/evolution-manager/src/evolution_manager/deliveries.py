"""Which elements of a ``message.sent`` have gone out: one record per ``correlation_id + index`` (the
catalog's idempotency key), in servicekit's outcome model (``servicekit.outcomes``).

Evolution's sendText has no idempotency key (reference §13), and the bus can run a handler again after a crash
between the call and its acknowledgement. So each element is *claimed* before it is sent and marked ``sent``
after; the claim is released only when the call provably did not go out (a refused connection, an open
circuit, a 429, a 4xx that names the request as invalid). Anything else — a read timeout, a cut connection, a
5xx, a 201 we cannot read, a claim left by a crash mid-call — is looked up with ``findMessages`` and, when not
found, is an *unknown* outcome: dead-lettered for an operator, never sent again automatically.
"""

from __future__ import annotations

from datetime import timedelta

from eventbus import Client, Keys
from servicekit.outcomes import Records

from evolution_manager import SERVICE
from evolution_manager.keys import ServiceKeys

EFFECT = "send_text"


def element(correlation_id: str, index: int) -> str:
    """The record id of one element of a reply."""
    return f"{correlation_id}:{index}"


def deliveries(redis: Client, keys: Keys, *, ttl: timedelta) -> Records:
    service_keys = ServiceKeys(keys)
    return Records(
        redis,
        service=SERVICE,
        effect=EFFECT,
        key_of=service_keys.reply_record,
        index_key=service_keys.unknown_outcomes(),
        ttl=ttl,
    )
