"""Live taps: Pub/Sub subscriptions for dashboards and ``wolfgang tail``.

At-most-once by nature: a tap that is down or slow misses events, and nothing is acknowledged. Anything
that must see every event consumes the streams through a :class:`~eventbus.consumer.Consumer` instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from fnmatch import fnmatchcase
from typing import Any

import structlog
from redis.asyncio.cluster import RedisCluster

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
    means every channel. Yields an iterator of envelopes; malformed messages are logged and skipped.

    On a cluster (sharded Pub/Sub) there is no pattern subscription: the pattern is matched against the
    catalog, which is closed, so the result is the same."""
    if bus.sharded:
        names = [c for c in catalog.CHANNELS if fnmatchcase(c, pattern)] if pattern is not None else channels
        async with _sharded(bus, tuple(names) or tuple(catalog.CHANNELS)) as shard_messages:
            yield _envelopes(shard_messages)
        return
    pubsub = bus.redis.pubsub(ignore_subscribe_messages=True)
    if pattern is not None:
        await pubsub.psubscribe(bus.keys.live(pattern))
    else:
        await pubsub.subscribe(*(bus.keys.live(c) for c in (channels or tuple(catalog.CHANNELS))))

    async def messages() -> AsyncIterator[bytes]:
        async for message in pubsub.listen():
            if message["type"] in ("message", "pmessage"):
                yield message["data"]

    try:
        yield _envelopes(messages())
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]


@asynccontextmanager
async def _sharded(bus: Bus, channels: tuple[str, ...]) -> AsyncIterator[AsyncIterator[bytes]]:
    """SSUBSCRIBE on the node of each channel's shard. On a cluster redis-py keeps one connection per node
    and moves the subscriptions itself when a slot moves or a replica is promoted."""
    if isinstance(bus.redis, RedisCluster):
        await bus.redis.initialize()  # the slot map, which routing each SSUBSCRIBE needs, loads lazily
    pubsub: Any = bus.redis.pubsub()
    await pubsub.ssubscribe(*(bus.keys.live(c) for c in channels))

    async def messages() -> AsyncIterator[bytes]:
        if not bus.cluster:  # one server: SSUBSCRIBE works like SUBSCRIBE, messages come through listen()
            async for message in pubsub.listen():
                if message["type"] == "smessage":
                    yield message["data"]
        while True:
            message = await pubsub.get_sharded_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is not None and message["type"] in (b"smessage", "smessage"):
                yield message["data"]

    try:
        yield messages()
    finally:
        await pubsub.aclose()


async def _envelopes(messages: AsyncIterator[bytes]) -> AsyncIterator[Envelope[Any]]:
    async for data in messages:
        try:
            yield catalog.parse(data)
        except InvalidEvent as exc:
            log.warning("tap_skipped_malformed", error=str(exc))


async def subscribers(bus: Bus, channel: str) -> int:
    """How many live taps listen on ``channel`` right now. Sharded subscriptions are counted only by the node
    that serves the channel's slot, so on a cluster the question goes there."""
    live = bus.keys.live(channel)
    if isinstance(bus.redis, RedisCluster):
        await bus.redis.initialize()
        node = bus.redis.get_node_from_key(live)
        reply = await bus.redis.execute_command("PUBSUB", "SHARDNUMSUB", live, target_nodes=node)
    elif bus.sharded:
        reply = await bus.redis.execute_command("PUBSUB", "SHARDNUMSUB", live)  # type: ignore[no-untyped-call]
    else:
        reply = await bus.redis.execute_command("PUBSUB", "NUMSUB", live)  # type: ignore[no-untyped-call]
    # redis-py parses NUMSUB into [(channel, count)]; SHARDNUMSUB comes back flat: [channel, count]
    pairs = (
        reply if reply and isinstance(reply[0], tuple) else list(zip(reply[::2], reply[1::2], strict=True))
    )
    return int(pairs[0][1]) if pairs else 0
