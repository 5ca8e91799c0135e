"""One channel's consumer inside a :class:`~eventbus.consumer.Consumer`, put together from its parts.

::

    Reader (reader.py, idle.py) ──admit / runnable / acks──▶ ┌──────────────────────┐
    Workers (workers.py, batch_workers.py) ◀──queue────────  │ Ledger (ledger.py):  │
        └─ success: settle ─────────────────────────────────▶│ held · waiting ·     │
        └─ failure ─▶ Settler (retries.py) ─requeue/dropped─▶│ queue · in flight ·  │
    Keeper (keeper.py): heartbeat · reclaim · release ──────▶│ acks · deadlines     │
                                                             └──────────────────────┘
    side effects once: idempotency.py (+ lua/read.lua, lua/prelude.lua) · observed at observe.py

Every part changes the delivery bookkeeping through the ledger only. The life of an entry is told in
``docs/architecture.md``; the atomic steps are the Lua scripts in ``lua/``.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from eventbus.batch_workers import work_batches
from eventbus.channel_setup import ChannelSetup
from eventbus.eventlog import EventLog
from eventbus.idempotency import ProcessedSet
from eventbus.keeper import Keeper
from eventbus.ledger import Delivery, Ledger
from eventbus.observe import ChannelObserver
from eventbus.reader import Reader
from eventbus.retries import Settler
from eventbus.subscription import Subscription
from eventbus.workers import Handling, work

if TYPE_CHECKING:
    from eventbus.consumer import Consumer

__all__ = ["ChannelConsumer", "Delivery"]


class ChannelConsumer:
    """One channel's reader, workers, settler and keeper around their ledger."""

    def __init__(self, owner: Consumer, sub: Subscription, events: EventLog) -> None:
        self.owner = owner
        self.sub = sub
        self.setup = setup = ChannelSetup.of(owner, sub)
        self.observer = ChannelObserver(sub.channel, owner.group, owner.name, events)
        self.ledger = Ledger(max(owner.batch_size, sub.concurrency) * 2, stopping=lambda: owner.stopping)
        self.processed = ProcessedSet(setup, self.observer)
        self.reader = Reader(setup, self.ledger, self.processed, self.observer)
        self.settler = Settler(setup, self.ledger, self.observer)
        self.handling = Handling(setup, self.ledger, self.settler, self.observer)
        self.keeper = Keeper(setup, self.ledger, self.observer)

    async def run(self) -> None:
        if self.sub.batch_handler is not None:
            workers = [asyncio.create_task(work_batches(self.handling))]
        else:
            workers = [asyncio.create_task(work(self.handling)) for _ in range(self.sub.concurrency)]
        keepers = [asyncio.create_task(self.keeper.run()), asyncio.create_task(self.handling.watchdog())]
        try:
            await self.reader.run()
        finally:
            await self._shutdown(workers, keepers)

    async def _shutdown(self, workers: list[asyncio.Task[None]], keepers: list[asyncio.Task[None]]) -> None:
        # Nothing new starts; running handlers get the grace period; everything else is released.
        ledger = self.ledger
        ledger.closing = True
        deadline = time.monotonic() + self.owner.shutdown_grace
        while ledger.running() and time.monotonic() < deadline:  # noqa: ASYNC110 - handlers end on their own
            await asyncio.sleep(0.01)
        for task in (*workers, *keepers):
            task.cancel()
        await asyncio.gather(*workers, *keepers, return_exceptions=True)
        try:
            await self.reader.settle_remaining()
            await self.keeper.release()
        except (RedisError, OSError) as exc:
            self.observer.log.warning("consumer_shutdown_incomplete", error=str(exc))
        finally:
            await self.setup.lane.aclose()
            await self.setup.block_lane.aclose()
