"""The read loop of one channel: drain our own pending entries, then read and admit new ones, one round trip
per batch under load (``lua/read.lua``: it also settles the previous batch's acknowledgements and tells which
waiting entries may run); wait on the server when there is nothing to read (``eventbus.idle``); ride out
outages, resharding and a vanished group. What it reads goes to the :class:`~eventbus.ledger.Ledger`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any

from redis.exceptions import ResponseError

from eventbus.channel_setup import ChannelSetup
from eventbus.client import unreachable
from eventbus.idempotency import ProcessedSet, packed
from eventbus.idle import IdleWait
from eventbus.lanes import REDIRECTED
from eventbus.ledger import Ledger
from eventbus.observe import ChannelObserver


class Reader:
    def __init__(
        self, setup: ChannelSetup, ledger: Ledger, processed: ProcessedSet, observer: ChannelObserver
    ) -> None:
        self._setup = setup
        self._ledger = ledger
        self._processed = processed
        self._observer = observer
        self.idle = IdleWait(setup, ledger, processed, observer, settle=self._settle_now)

    async def run(self) -> None:
        consumer = self._setup.consumer
        failures = 0
        cursor: str | None = "0"  # drain our own pending entries first: ">" never returns them again
        while not consumer.stopping:
            try:
                await self._ensure_group()
                while not consumer.stopping:
                    cursor = await self._cycle(cursor)
                    failures = 0
            except ResponseError as exc:
                if group_gone(exc):
                    self._observer.log.warning("consumer_group_missing", error=str(exc))
                    cursor = "0"
                    continue
                if not slot_moving(exc):
                    raise
                failures += 1
                cursor = await self._back_off("consumer_slot_moving", exc, failures)
            except Exception as exc:
                if not unreachable(exc):
                    raise  # a bug, not an outage
                failures += 1
                cursor = await self._back_off("consumer_redis_unavailable", exc, failures)

    async def _back_off(self, what: str, exc: Exception, failures: int) -> str:
        """Wait before trying again; returns the cursor to go on from. What the server handed us just before
        the failure (a blocking read whose admit step then failed, say) is pending under our name but not
        held here: read our own pending entries again rather than leave them to the reclaimer after a whole
        visibility timeout."""
        delay = min(5.0, 0.1 * 2.0**failures) * random.uniform(0.5, 1.0)
        self._observer.log.warning(what, error=str(exc), retry_in=round(delay, 2))
        await self._setup.consumer.sleep(delay)
        return "0"

    async def _ensure_group(self) -> None:
        setup = self._setup
        redis, consumer = setup.bus.redis, setup.consumer
        try:
            await redis.xgroup_create(setup.stream, consumer.group, consumer.start_from, mkstream=True)
            self._observer.log.info("consumer_group_created", start_from=consumer.start_from)
            # The publish script's cached floor did not know this group: let the next publish look again.
            await redis.hset(setup.bus.keys.retention(setup.sub.channel), "floor_until", 0)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _cycle(self, cursor: str | None) -> str | None:
        ledger, consumer = self._ledger, self._setup.consumer
        room = ledger.room()
        if room <= 0 and not ledger.acks:
            await self._wait(0.1 if ledger.waiting else 1.0)  # woken by a completion
            room = ledger.room()
            if room <= 0 and not ledger.acks and not ledger.waiting:
                return cursor
        ledger.wake.clear()
        count = max(0, min(consumer.batch_size, room))
        admitted, runnable, last = await self.read(cursor or ">", count, list(ledger.waiting))
        ledger.runnable(runnable)
        ledger.admit(admitted)
        if cursor is not None:
            # An empty page of our own pending entries ends the drain; a page we could not read does not.
            return (last or None) if count else cursor
        if not admitted and not last and count and not consumer.stopping:
            if ledger.waiting:
                await self._wait(0.05)  # other replicas finish heads too: look again soon
            else:
                await self.idle.block(count)
        return None

    async def _wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ledger.wake.wait(), seconds)

    async def read(self, start: str, count: int, waiting: list[str]) -> tuple[list[Any], list[str], str]:
        """One ``read.lua`` round trip: settle the acknowledgements in hand, report which ``waiting`` members
        may run, read and admit up to ``count`` entries from ``start``."""
        setup, ledger = self._setup, self._ledger
        consumer = setup.consumer
        acks = ledger.take_acks()
        args: list[Any] = [
            consumer.group,
            consumer.name,
            start,
            count,
            setup.lease_ms,
            self._processed.bounds,
            setup.paths,
            *packed(acks),
            len(waiting),
            *waiting,
        ]
        try:
            admitted, runnable, last, duplicates, _leased, top = await self._processed.run_marking(
                setup.bus.scripts.read, args, acks
            )
        except BaseException:
            ledger.unsent(acks)
            raise
        self._observer.acknowledged(ledger.acknowledged(acks))
        self._observer.skipped(duplicates)
        if start == ">" and count:  # only a read of new entries tells where the undelivered ones begin
            self.idle.top = top.decode() or last.decode()
        return admitted, [m.decode() for m in runnable], last.decode()

    async def _settle_now(self) -> None:
        await self.read(">", 0, [])

    async def settle_remaining(self) -> None:
        """Shutting down: the acknowledgements still in hand go out."""
        await self.idle.flushed()
        if self._ledger.acks:
            await self._settle_now()


def slot_moving(exc: ResponseError) -> bool:
    """The channel's slot is being migrated to another node (resharding): a script found one of its keys
    already gone to the other node (it settled the last lease, say, which deleted the key, and may not create
    it again there), or a redirect reached us. Whatever the script did before is safe to repeat: marks,
    acknowledgements and leases are idempotent."""
    return "non local key" in str(exc) or isinstance(exc, REDIRECTED)


def group_gone(exc: ResponseError) -> bool:
    """The stream or group vanished (FLUSHALL, a failover to an empty replica, a deleted key)."""
    message = str(exc)
    return message.startswith(("NOGROUP", "UNBLOCKED")) or "NOGROUP" in message
