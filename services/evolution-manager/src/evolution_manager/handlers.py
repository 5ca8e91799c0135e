"""One function per catalog reaction. evolution-manager reacts to ``message.sent`` only."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial

import servicekit.upstream as upstream
import structlog
from eventbus import Envelope, MessageSent
from pydantic import SecretStr
from servicekit.upstream import Breakers

from evolution_manager import metrics
from evolution_manager.clients.evolution import EvolutionClient
from evolution_manager.deliveries import Claim, Deliveries
from evolution_manager.errors import UndeliverableReply
from evolution_manager.registry import Registry
from evolution_manager.statuses import api_key_for

log = structlog.get_logger("evolution_manager.handlers")

_DIGITS = re.compile(r"^[0-9]{8,15}$")
_JID = re.compile(r"^[0-9A-Za-z.-]{1,64}@(s\.whatsapp\.net|g\.us)$")


@dataclass(frozen=True)
class SendPolicy:
    attempts: int = 4
    initial: float = 0.2
    maximum: float = 5.0


def recipient(to: str) -> str:
    """``+5511987654321`` (or ``wa:+55…``, a lead_external_id) → ``5511987654321``; JIDs pass as they are."""
    if _JID.match(to):
        return to
    number = to.removeprefix("wa:").removeprefix("+")
    if not _DIGITS.match(number):
        raise UndeliverableReply("message.sent 'to' is neither an E.164 number nor a WhatsApp JID")
    return number


async def deliver_reply(
    event: Envelope[MessageSent],
    *,
    registry: Registry,
    deliveries: Deliveries,
    evolution: EvolutionClient,
    breakers: Breakers,
    default_api_key: SecretStr | None,
    policy: SendPolicy,
) -> None:
    """message.sent → one sendText per element, in order, each at most once per ``correlation_id + index``.

    A failure part-way leaves the sent elements recorded: the retried (or replayed) event sends the rest.
    """
    reply = event.payload
    for index, message in enumerate(reply.messages):
        # Checked before anything goes out: half a reply followed by a dead letter is worse than none.
        if message.type != "text":
            raise UndeliverableReply(
                f"messages[{index}]: type {message.type!r} cannot be sent yet (text only)"
            )
    instance = await registry.by_id(reply.instance_id)
    number = recipient(reply.to)
    api_key = api_key_for(instance, default_api_key)
    for index, message in enumerate(reply.messages):
        claim = await deliveries.claim(event.correlation_id, index)
        if claim is Claim.SENT:
            metrics.REPLIES.labels("already_sent").inc()
            continue
        if claim is Claim.UNCERTAIN:
            # A handling crashed mid-call: the text may have gone out, and a second copy is the worse error.
            metrics.REPLIES.labels("uncertain_skipped").inc()
            log.error("reply_element_uncertain", index=index, instance=instance.name)
            continue
        send = partial(evolution.send_text, instance.name, api_key=api_key, number=number, text=message.text)
        try:
            message_id = await upstream.with_retries(
                partial(breakers.call, instance.name, send),
                attempts=policy.attempts,
                initial=policy.initial,
                maximum=policy.maximum,
            )
        except Exception:
            # An answer, a refused connection or an open circuit: it did not go out, a later try may send it.
            await deliveries.release(event.correlation_id, index)
            metrics.REPLIES.labels("failed").inc()
            raise
        finally:
            metrics.CIRCUIT_OPEN.labels(instance.name).set(
                1 if breakers.state(instance.name) == "open" else 0
            )
        await deliveries.sent(event.correlation_id, index, message_id)
        metrics.REPLIES.labels("sent").inc()
        log.info("reply_element_sent", index=index, instance=instance.name, evolution_message_id=message_id)
