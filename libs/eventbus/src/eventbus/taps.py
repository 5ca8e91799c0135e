"""Live taps: Pub/Sub subscriptions for dashboards and ``wolfgang tail``.

At-most-once by nature: a tap that is down or slow misses events, and nothing is acknowledged. Anything
that must see every event consumes the streams through a :class:`~eventbus.consumer.Consumer` instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from fnmatch import fnmatchcase
from typing import Any

import structlog
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import MovedError
from redis.utils import str_if_bytes

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
    """SSUBSCRIBE on the node of each channel's shard; on a cluster, see :class:`_ShardedTap`."""
    live = [bus.keys.live(c) for c in channels]
    if isinstance(bus.redis, RedisCluster):
        sharded = _ShardedTap(bus.redis, live)
        await sharded.subscribe()
        try:
            yield sharded.messages()
        finally:
            await sharded.close()
        return
    pubsub: Any = bus.redis.pubsub()
    await pubsub.ssubscribe(*live)

    async def messages() -> AsyncIterator[bytes]:
        # One server: SSUBSCRIBE works like SUBSCRIBE, messages come through listen().
        async for message in pubsub.listen():
            if message["type"] == "smessage":
                yield message["data"]

    try:
        yield messages()
    finally:
        await pubsub.aclose()


class _ShardedTap:
    """Sharded subscriptions, one connection per node, all read at once, that follow their slots.

    Read at once: redis-py's ``get_sharded_message`` reads the nodes' connections in turn and waits out its
    timeout on each idle one, so a burst on one shard came in at one message per round of waits (20 events
    took over 30 s with three primaries; the console's inbox saw that as a lost event). Here a reader task per
    node's connection puts what it reads on one bounded queue (a slow tap holds the readers, and so the
    sockets, as before).

    Follow their slots: a node that gives a slot away (resharding: ``CLUSTER SETSLOT … NODE``) drops that
    slot's SSUBSCRIBE subscribers and tells them with a SUNSUBSCRIBE they never sent. redis-py 8.1 moves a
    subscription only when its client's slot map changes, i.e. after a MOVED reply to some other command of
    the same client: a tap alone never gets one and goes silent for good; and its own SUNSUBSCRIBE to the old
    node is answered with MOVED. So on either sign we start over: a fresh slot map, a fresh pubsub, the same
    channels. Events published in between are missed, as a tap may miss them (at-most-once, module
    docstring).
    """

    #: Messages read ahead of the tap's reader, over every node.
    QUEUE = 1000

    def __init__(self, redis: RedisCluster, channels: list[str]) -> None:
        self._redis = redis
        self._channels = channels
        self._pubsub: Any = None
        self._failures = 0
        self._queue: asyncio.Queue[dict[str, Any] | BaseException] = asyncio.Queue(self.QUEUE)
        self._readers: list[asyncio.Task[None]] = []

    async def subscribe(self) -> None:
        await self._redis.initialize()  # the slot map, which routing each SSUBSCRIBE needs, loads lazily
        await self._open()

    async def _open(self) -> None:
        self._pubsub = self._redis.pubsub()
        await self._pubsub.ssubscribe(*self._channels)
        self._queue = asyncio.Queue(self.QUEUE)
        self._readers = [
            asyncio.create_task(self._read(node_pubsub, self._queue))
            for node_pubsub in self._pubsub.node_pubsub_mapping.values()
        ]

    @staticmethod
    async def _read(pubsub: Any, queue: asyncio.Queue[dict[str, Any] | BaseException]) -> None:
        """One node's connection: every message (subscribe confirmations too) onto ``queue``; an error last."""
        try:
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message is not None:
                    await queue.put(message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # handed to the tap's reader, which raises it or resubscribes
            await queue.put(exc)

    async def messages(self) -> AsyncIterator[bytes]:
        while True:
            message = await self._queue.get()
            if isinstance(message, MovedError):
                await self._resubscribe(f"MOVED {message}")
                continue
            if isinstance(message, BaseException):
                raise message
            kind = str_if_bytes(message["type"])
            if kind == "smessage":
                self._failures = 0
                yield message["data"]
            elif kind == "ssubscribe":
                self._failures = 0
            elif kind == "sunsubscribe":
                await self._resubscribe(f"SUNSUBSCRIBE {str_if_bytes(message['channel'])}")

    async def _resubscribe(self, reason: str) -> None:
        log.info("tap_resubscribing", reason=reason)
        await self.close()
        # Gossip may not have reached the node we ask yet: its SSUBSCRIBE then gets MOVED and we come back
        # here, a little later each time.
        await asyncio.sleep(min(1.0, 0.05 * 2**self._failures) if self._failures else 0)
        self._failures += 1
        await self._redis.nodes_manager.initialize()  # refresh the slot map now, not at the next MOVED
        await self._open()

    async def close(self) -> None:
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
        self._readers = []
        if self._pubsub is not None:
            await self._pubsub.aclose()
            self._pubsub = None


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
