"""Keeping what is ours and taking over what the dead left: a heartbeat renews the leases of the entries we
hold and makes them look busy (``lua/heartbeat.lua``); a reclaimer takes over entries that dead consumers left
idle longer than the visibility timeout (``lua/reclaim.lua``); on shutdown, what we hold but did not finish is
handed back at once."""

from __future__ import annotations

import time
from typing import Any

from redis.exceptions import RedisError, ResponseError

from eventbus.channel_setup import ChannelSetup
from eventbus.ledger import Ledger
from eventbus.observe import ChannelObserver
from eventbus.reader import group_gone


class Keeper:
    def __init__(self, setup: ChannelSetup, ledger: Ledger, observer: ChannelObserver) -> None:
        self._setup = setup
        self._ledger = ledger
        self._observer = observer

    async def run(self) -> None:
        consumer = self._setup.consumer
        interval = consumer.visibility_ms / 3000
        next_reclaim = 0.0
        while not consumer.stopping:
            try:
                await self.heartbeat()
                if time.monotonic() >= next_reclaim:
                    await self.reclaim()
                    next_reclaim = time.monotonic() + interval * 1.5
            except ResponseError as exc:
                if not group_gone(exc):
                    self._observer.log.warning("consumer_keep_failed", error=str(exc))
            except (RedisError, OSError) as exc:
                self._observer.log.debug("consumer_keep_failed", error=str(exc))
            await consumer.sleep(interval)

    async def heartbeat(self) -> None:
        setup, ledger = self._setup, self._ledger
        if not ledger.holding():
            return
        args: list[Any] = [setup.consumer.group, setup.consumer.name, setup.lease_ms]
        for entry_id, event_id in ledger.leased():
            args.extend((entry_id, event_id))
        lost = await setup.bus.scripts.heartbeat(keys=[setup.stream, setup.leases], args=args)
        for lost_id in lost:
            gone = ledger.lost(lost_id.decode())
            if gone is not None:
                self._observer.log.warning("consumer_entry_lost", entry_id=gone.entry_id)

    async def reclaim(self) -> None:
        setup, ledger = self._setup, self._ledger
        consumer = setup.consumer
        cursor = "0-0"
        while not consumer.stopping:
            room = ledger.reclaim_room()
            if room <= 0:
                return
            admitted, cursor_b, duplicates, _leased = await setup.bus.scripts.reclaim(
                keys=setup.script_keys,
                args=[
                    consumer.group,
                    consumer.name,
                    consumer.visibility_ms,
                    cursor,
                    min(room, consumer.batch_size),
                    setup.lease_ms,
                    setup.paths,
                ],
            )
            if admitted:
                self._observer.reclaimed(len(admitted))
            self._observer.skipped(duplicates)
            ledger.admit(admitted)
            cursor = cursor_b.decode()
            if cursor == "0-0":
                return

    async def release(self) -> None:
        """Hand back what we hold but did not finish (backoff, interrupted handlers): drop our leases and
        make the entries look idle for a whole visibility timeout, so a live replica takes them now."""
        setup = self._setup
        consumer = setup.consumer
        held = self._ledger.holding()
        if not held:
            return
        async with setup.bus.redis.pipeline(transaction=False) as pipe:
            for d in held:
                pipe.xclaim(
                    setup.stream,
                    consumer.group,
                    consumer.name,
                    0,
                    [d.entry_id],
                    idle=consumer.visibility_ms * 2,
                    justid=True,
                )
                if d.event_id:
                    pipe.hdel(setup.leases, d.event_id)
            await pipe.execute()
        self._observer.log.info("consumer_released", entries=len(held))
        self._ledger.release()
