"""Live taps: Pub/Sub subscriptions for dashboards and ``wolfgang tail``.

At-most-once by nature: a tap that is down or slow misses events, and nothing is acknowledged. Anything
that must see every event consumes the streams through a :class:`~eventbus.consumer.Consumer` instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog

from eventbus import catalog
from eventbus.bus import Bus
from eventbus.envelope import Envelope
from eventbus.errors import InvalidEvent

log = structlog.get_logger("eventbus.taps")


@asynccontextmanager
async def tap(
    bus: Bus, *channels: str, pattern: str | None = None
) -> AsyncIterator[AsyncIterator[Envelope[Any]]]:
    """Subscribe to ``channels`` (catalog names) or a glob ``pattern`` over them (``lead.*``); no arguments
    means every channel. Yields an iterator of envelopes; malformed messages are logged and skipped."""
    pubsub = bus.redis.pubsub(ignore_subscribe_messages=True)
    if pattern is not None:
        await pubsub.psubscribe(bus.keys.live(pattern))
    else:
        await pubsub.subscribe(*(bus.keys.live(c) for c in (channels or tuple(catalog.CHANNELS))))

    async def events() -> AsyncIterator[Envelope[Any]]:
        async for message in pubsub.listen():
            if message["type"] not in ("message", "pmessage"):
                continue
            try:
                yield catalog.parse(message["data"])
            except InvalidEvent as exc:
                log.warning("tap_skipped_malformed", error=str(exc))

    try:
        yield events()
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
