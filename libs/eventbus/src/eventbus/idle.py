"""The reader's wait when there is nothing to read: block on the server for new entries and admit them in
the same round trip, while the acknowledgements of handlers that finish meanwhile go out on their own."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import NoScriptError, RedisError

from eventbus.channel_setup import ChannelSetup
from eventbus.idempotency import ProcessedSet, packed
from eventbus.lanes import REDIRECTED
from eventbus.ledger import Ledger
from eventbus.line import Command
from eventbus.observe import ChannelObserver

#: Group-aware waits after a lost wake-up race: with N idle replicas, ~N-1 losses per this many entries.
GROUPED_WAITS = 20


class IdleWait:
    def __init__(
        self,
        setup: ChannelSetup,
        ledger: Ledger,
        processed: ProcessedSet,
        observer: ChannelObserver,
        *,
        settle: Callable[[], Awaitable[None]],
    ) -> None:
        self._setup = setup
        self._ledger = ledger
        self._processed = processed
        self._observer = observer
        self._settle = settle
        #: the stream's newest entry id when a read of new entries last found none: a blocking wait resumes
        #: from there (None: not known, wait the old way)
        self.top: str | None = None
        #: waits left to make the group-aware way after losing a wake-up race (see _wait_and_read)
        self.grouped_waits = 0
        self._flushing: asyncio.Task[None] | None = None
        ledger.on_settled_while_blocked = self._start_flush

    async def block(self, room: int) -> None:
        """Nothing to read: wait on the server for new entries, flushing acknowledgements meanwhile."""
        ledger, consumer = self._ledger, self._setup.consumer
        ledger.blocked = True
        read = asyncio.ensure_future(self._wait_and_read(room))
        stop = asyncio.ensure_future(consumer.until_stopping())
        try:
            await asyncio.wait({read, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ledger.blocked = False
            stop.cancel()
        if not read.done():
            # Stopping: do not hold shutdown for the rest of the block. Anything the server handed us in
            # the meantime stays pending under our name: drained on restart, or reclaimed by a replica.
            read.cancel()
            await asyncio.gather(read, return_exceptions=True)
            return
        admitted, reply = read.result()
        if admitted is not None:
            ledger.admit(admitted)
            return
        if not reply:
            return
        await self.flushed()
        await self._admit([entry_id for entry_id, _ in reply[0][1]])

    async def _admit(self, ids: list[Any]) -> None:
        """``admit.lua`` for what a plain blocking ``XREADGROUP`` handed us, settling the acknowledgements in
        hand on the way."""
        setup, ledger = self._setup, self._ledger
        consumer = setup.consumer
        acks = ledger.take_acks()
        args: list[Any] = [
            consumer.group,
            consumer.name,
            setup.lease_ms,
            setup.paths,
            self._processed.bounds,
            *packed(acks),
            *ids,
        ]
        try:
            admitted, duplicates, _leased = await self._processed.run_marking(
                setup.bus.scripts.admit, args, acks
            )
        except BaseException:
            ledger.unsent(acks)
            raise
        self._observer.acknowledged(ledger.acknowledged(acks))
        self._observer.skipped(duplicates)
        ledger.admit(admitted)

    async def _wait_and_read(self, room: int) -> tuple[list[Any] | None, Any]:
        """Wait for an entry newer than ``self.top`` and read-and-admit new entries in the same round trip:
        ``read.lua`` is pipelined behind a blocking ``XREAD``, so Redis runs it the moment the wait ends. A
        lone entry then reaches its handler after one round trip, as with a bare ``XREADGROUP``, instead of
        two (read, then admit). Acknowledgements are not carried here (they would wait out the block): the
        flush sends them meanwhile. Returns what was admitted, or else the reply of a blocking ``XREADGROUP``
        sent the old way (no slot map, a redirect on a cluster, the script not loaded, nothing seen yet to
        resume from, a wake-up race lost lately), for ``admit.lua``."""
        if self.top is None or self.grouped_waits:
            self.grouped_waits = max(0, self.grouped_waits - 1)
            return None, await self._read_blocking(room)
        setup = self._setup
        consumer = setup.consumer
        args: list[Any] = [
            consumer.group,
            consumer.name,
            ">",
            room,
            setup.lease_ms,
            self._processed.bounds,
            setup.paths,
            *packed([]),
            0,
        ]
        wait: Command = (
            ("XREAD", "COUNT", 1, "BLOCK", consumer.block_ms, "STREAMS", setup.stream, self.top),
            {},
        )
        reply = await setup.block_lane.send(
            setup.bus.scripts.read, setup.script_keys, args, wait, longer_by=consumer.block_ms / 1000
        )
        if isinstance(reply, (NoScriptError, *REDIRECTED)):
            # The script did not run, so nothing was read: wait the old way (through the cluster client); the
            # next non-blocking read loads the script again.
            return None, await self._read_blocking(room)
        if isinstance(reply, Exception):
            raise reply
        admitted, _runnable, last, duplicates, _leased, top = reply
        self._observer.skipped(duplicates)
        newest = top.decode() or last.decode()
        if not last and newest != self.top:
            # Woken by a new entry that another replica read first: a plain XREAD wakes every idle replica
            # for every entry. Wait the group-aware way for a while (Redis hands each new entry to one
            # blocked XREADGROUP), then try the one-round-trip wait again; a lone replica never loses.
            self._observer.wakeup_lost()
            self.grouped_waits = GROUPED_WAITS
        self.top = newest
        return list(admitted), None

    async def _read_blocking(self, room: int) -> Any:
        setup = self._setup
        consumer = setup.consumer
        return await setup.bus.redis.xreadgroup(
            consumer.group, consumer.name, {setup.stream: ">"}, count=room, block=consumer.block_ms
        )

    # -- acknowledgements while blocked ------------------------------------------------------------------

    def _start_flush(self) -> None:
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self._ledger.acks and self._ledger.blocked:
                await self._settle()
        except (RedisError, OSError) as exc:
            self._observer.log.warning("consumer_ack_deferred", error=str(exc))
        finally:
            self._flushing = None

    async def flushed(self) -> None:
        """Wait for a flush in flight, if any (its acknowledgements must not be sent twice at once)."""
        if self._flushing is not None:
            await asyncio.gather(self._flushing, return_exceptions=True)
