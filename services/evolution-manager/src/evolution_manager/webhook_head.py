"""The head of an Evolution webhook: who sent it, read from the first bytes before anything else is (the
sender is authenticated on it; ``webhooks.parse`` reads the whole body afterwards)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic_core import from_json

#: How much of a body is read before the sender is authenticated. Evolution writes ``event`` and
#: ``instance`` first (reference §4, "in this order"), so the name is in the first hundred bytes or so.
HEAD_BYTES = 1024


@dataclass(frozen=True)
class Head:
    """What the first :data:`HEAD_BYTES` of a body say, read before anything else: who to authenticate."""

    event: str
    instance: str | None


def head(prefix: bytes) -> Head:
    """``event`` and ``instance`` from the start of a body, which may be cut anywhere: pydantic-core's
    partial JSON mode drops a value cut short, so a name is either whole or absent (then the webhook is
    refused; the whole body is parsed again after authentication and must name the same instance)."""
    head = Head("other", None)
    # Evolution's head fits in 128 bytes (event, then a name of up to 64): parsing that alone first is a
    # third of the cost of parsing a whole small body.
    for size in (128, HEAD_BYTES):
        try:
            partial = from_json(prefix[:size], allow_partial=True)
        except ValueError:
            return head
        if not isinstance(partial, dict):
            return head
        event, instance = partial.get("event"), partial.get("instance")
        head = Head(
            event if isinstance(event, str) else "other",
            instance if isinstance(instance, str) and instance else None,
        )
        if head.instance is not None or len(prefix) <= size:
            break
    return head
