"""One function per catalog reaction. evolution-manager reacts to ``message.sent`` only."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

import servicekit.upstream as upstream
import structlog
from eventbus import Envelope, MessageSent
from pydantic import SecretStr
from servicekit.outcomes import Answer, OutcomeUnknown, Records, State
from servicekit.upstream import Breakers

from evolution_manager import metrics
from evolution_manager.clients.evolution import EvolutionClient
from evolution_manager.deliveries import element as deliveries_element
from evolution_manager.echoes import SentIds
from evolution_manager.errors import SendInProgress, UndeliverableReply
from evolution_manager.registry import Registry
from evolution_manager.statuses import api_key_for

log = structlog.get_logger("evolution_manager.handlers")

_DIGITS = re.compile(r"^[0-9]{8,15}$")
# A privacy @lid too: Evolution 2.3+ sends to it as it is (reference §12); a lead known only by its LID has no
# other address (docs/catalog.md, Additions).
_JID = re.compile(r"^[0-9A-Za-z.-]{1,64}@(s\.whatsapp\.net|g\.us|lid)$")


@dataclass(frozen=True)
class SendPolicy:
    attempts: int = 4
    initial: float = 0.2
    maximum: float = 5.0
    #: A claim of another event (a copy of the reply) younger than this may belong to a handling still in
    #: its call; older, that handling died mid-call. Longer than a whole send with its retries can take.
    in_flight_ms: int = 120_000


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
    deliveries: Records,
    sent_ids: SentIds,
    evolution: EvolutionClient,
    breakers: Breakers,
    default_api_key: SecretStr | None,
    policy: SendPolicy,
) -> None:
    """message.sent → one sendText per element, in order, each at most once per ``correlation_id + index``.

    A failure part-way leaves the sent elements recorded: the retried (or replayed) event sends the rest. An
    element whose outcome is unknown stops the reply there (order matters) and dead-letters the event.
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
        element = deliveries_element(event.correlation_id, index)
        record = await deliveries.claim(element, holder=event.id)
        if record.state is State.SENT:
            metrics.REPLIES.labels("already_sent").inc()
            continue
        look = partial(
            _reconcile,
            event,
            element,
            deliveries,
            sent_ids,
            evolution,
            instance.name,
            api_key,
            number,
            message.text,
        )
        if record.state is State.UNKNOWN:
            raise OutcomeUnknown(
                f"messages[{index}] awaits an operator's decision", answer=Answer(record.ref)
            )
        if record.state is State.IN_FLIGHT:
            if not record.abandoned(event.id, after_ms=policy.in_flight_ms):
                # A copy of this reply (another event id, same correlation) is being sent right now.
                raise SendInProgress(f"messages[{index}] is being sent by another handling")
            # A handling died between the call and the mark: the text may have gone out.
            await look(Answer("crashed_mid_call"), record.claimed_ms)
            continue
        send = partial(evolution.send_text, instance.name, api_key=api_key, number=number, text=message.text)
        await sent_ids.sending(reply.instance_id, number, message.text)  # its echo may overtake the answer
        try:
            message_id = await upstream.with_retries(
                partial(breakers.call, instance.name, send),
                attempts=policy.attempts,
                initial=policy.initial,
                maximum=policy.maximum,
            )
        except OutcomeUnknown as exc:
            await look(exc.answer, record.claimed_ms)
            continue
        except Exception:
            # A refused connection, an open circuit, a 429, a rejection: it did not go out.
            await deliveries.failed(element)
            metrics.REPLIES.labels("failed").inc()
            raise
        finally:
            metrics.CIRCUIT_OPEN.labels(instance.name).set(
                1 if breakers.state(instance.name) == "open" else 0
            )
        if message_id:  # before the mark: an echo arriving later is recognised
            await sent_ids.remember(reply.instance_id, message_id)
        await sent_ids.done_sending(reply.instance_id, number, message.text)
        await deliveries.sent(element, message_id)
        metrics.REPLIES.labels("sent").inc()
        log.info("reply_element_sent", index=index, instance=instance.name, evolution_message_id=message_id)


async def _reconcile(
    event: Envelope[MessageSent],
    element: str,
    deliveries: Records,
    sent_ids: SentIds,
    evolution: EvolutionClient,
    instance: str,
    api_key: str,
    number: str,
    text: str,
    answer: Answer,
    claimed_ms: int,
) -> None:
    """An ambiguous send: found in Evolution's store → sent; otherwise unknown (raised)."""
    since = (
        datetime.fromtimestamp(claimed_ms / 1000, UTC)
        if claimed_ms
        else datetime.now(UTC) - timedelta(days=1)
    )
    try:
        found = await evolution.find_sent(instance, api_key=api_key, number=number, text=text, since=since)
    except Exception as exc:  # a lookup that fails proves nothing either way
        log.warning("reply_reconcile_failed", instance=instance, error=type(exc).__name__)
        found = None
    if found is not None:
        await sent_ids.remember(event.payload.instance_id, found)
        await deliveries.sent(element, found)
        metrics.REPLIES.labels("reconciled_sent").inc()
        log.info(
            "reply_element_reconciled", instance=instance, evolution_message_id=found, answer=str(answer)
        )
        return
    await deliveries.unknown(
        element, answer=answer, event_id=event.id, channel=event.type, company_id=event.company_id
    )
    metrics.REPLIES.labels("unknown").inc()
    raise OutcomeUnknown(f"sendText to instance {instance!r}: {answer}", answer=answer)


#: The handler of each channel evolution-manager consumes, keyed by catalog type (app.py subscribes each).
REACTIONS: dict[str, Callable[..., Awaitable[None]]] = {"message.sent": deliver_reply}
#: Replies to one person go out in publish order; other conversations proceed in parallel.
ORDERING: dict[str, tuple[str, ...]] = {"message.sent": ("payload.instance_id", "payload.to")}
