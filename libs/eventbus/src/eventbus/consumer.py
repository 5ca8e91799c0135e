"""Consuming: one consumer group per service, one consumer per process, side effects once.

Written by hand because no library does this on Redis: FastStream and redis-py give consumer groups, but
not idempotency marked atomically with the acknowledgement, leases, per-key ordering across replicas,
attempt counting that survives restarts, or dead letters (see ``docs/architecture.md``).

Life of an entry, per channel:

1. *read*: ``read.lua`` acknowledges the previous batch (marking ids processed in the same step), then
   reads and *admits* the next: ids already processed are acknowledged and skipped, ids another live
   consumer holds a lease on are left alone, the rest get a lease and, for ordered subscriptions, a place
   in their key's queue. One round trip per batch under load; when idle, a blocking ``XREADGROUP`` plus
   ``admit.lua``.
2. *handle*: a worker parses the envelope against the catalog and runs the handler. Success queues the
   acknowledgement; a failure is retried with backoff (attempts are the stream's delivery count, so they
   survive restarts); the last attempt, or a permanent error, moves the entry to the group's dead letters.
3. *keep*: a heartbeat keeps our pending entries from looking idle and renews their leases; a reclaimer
   takes over entries that dead consumers left idle longer than the visibility timeout.

Where each step lives: ``channel.py`` draws one channel's parts around their ledger (``reader.py``,
``idle.py``, ``workers.py``, ``batch_workers.py``, ``retries.py``, ``keeper.py``, ``idempotency.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import structlog
from redis.exceptions import RedisError

from eventbus.bus import Bus
from eventbus.channel import ChannelConsumer
from eventbus.eventlog import EventLog
from eventbus.subscription import Backoff, BatchHandler, Handler, Subscription

if TYPE_CHECKING:
    from eventbus.operations import GroupStats

#: How long a loss at the stream's ceiling keeps the group's readiness "degraded".
DEGRADED_AFTER_DROP = timedelta(hours=1)
#: A group this close to the stream's ceiling (a share of it, in undelivered entries) is degraded: it is about
#: to lose events.
LAG_WARNING = 0.9

__all__ = ["Backoff", "BatchHandler", "Consumer", "Handler", "Subscription", "default_consumer_name"]

log = structlog.get_logger("eventbus.consumer")


def default_consumer_name() -> str:
    """``host:pid``; set ``name`` explicitly (e.g. the pod name) so a restarted process drains its own work."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Consumer:
    """Runs a group's subscriptions in this process until stopped. See the module docstring."""

    def __init__(
        self,
        bus: Bus,
        group: str,
        subscriptions: Sequence[Subscription] | Mapping[str, Handler],
        *,
        name: str | None = None,
        batch_size: int = 64,
        block: timedelta = timedelta(seconds=2),
        visibility_timeout: timedelta = timedelta(seconds=30),
        start_from: str = "0",
        stats_interval: timedelta = timedelta(seconds=15),
        shutdown_grace: timedelta = timedelta(seconds=10),
    ) -> None:
        if isinstance(subscriptions, Mapping):
            subscriptions = [Subscription(channel, handler) for channel, handler in subscriptions.items()]
        self.bus = bus
        self.group = group
        self.name = name or default_consumer_name()
        if "|" in self.name:
            raise ValueError("consumer names must not contain '|'")
        self.batch_size = batch_size
        self.block_ms = int(block.total_seconds() * 1000)
        self.visibility_ms = int(visibility_timeout.total_seconds() * 1000)
        self.start_from = start_from
        self.stats_interval = stats_interval.total_seconds()
        self.shutdown_grace = shutdown_grace.total_seconds()
        events = EventLog(bus.settings.event_log_level, bus.settings.event_log_sample)
        self._channels = [ChannelConsumer(self, sub, events) for sub in subscriptions]
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: this group's numbers per channel, as the stats loop last read them
        self._stats: dict[str, GroupStats] = {}

    async def run(self) -> None:
        """Consume until :meth:`stop`; survives Redis restarts and flushes by itself. A :meth:`stop` that came
        first (a shutdown while the service was still starting) makes it return at once."""
        log.info(
            "consumer_started",
            group=self.group,
            consumer=self.name,
            channels=[c.sub.channel for c in self._channels],
        )
        try:
            async with asyncio.TaskGroup() as tasks:
                for channel in self._channels:
                    tasks.create_task(channel.run())
                tasks.create_task(self._report_stats())
        finally:
            log.info("consumer_stopped", group=self.group, consumer=self.name)

    def stop(self) -> None:
        """Stop reading; in-flight handlers get ``shutdown_grace`` to finish, the rest is released."""
        self._stopping.set()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Consumer]:
        """Run in a background task for the block's duration; stop gracefully on exit."""
        # Cleared here, not in run(): the block may end (and stop()) before the task takes its first step.
        self._stopping.clear()
        self._task = asyncio.create_task(self.run(), name=f"consumer:{self.group}")
        try:
            yield self
        finally:
            self.stop()
            await self._task

    async def alive(self) -> bool:
        """Readiness: the consume loop is running (it keeps running through Redis outages)."""
        return self._task is not None and not self._task.done() and not self.stopping

    async def degraded(self) -> str | None:
        """Why the group is degraded though running, or None: the stream's hard ceiling dropped events before
        the group handled them (within the last hour), or the group lags so far that it soon will. Read from
        the stats loop's last numbers (every ``stats_interval``), never from Redis on the caller's time."""
        reasons = []
        ceiling = self.bus.settings.ceiling
        now = datetime.now(UTC)
        for channel, stats in self._stats.items():
            if stats.dropped_at is not None and now - stats.dropped_at < DEGRADED_AFTER_DROP:
                reasons.append(
                    f"{channel}: {stats.dropped} unread events dropped at the stream's ceiling, the last at "
                    f"{stats.dropped_at:%Y-%m-%dT%H:%M:%SZ}"
                )
            elif ceiling and stats.lag is not None and stats.lag >= LAG_WARNING * ceiling:
                reasons.append(
                    f"{channel}: {stats.lag} events behind, near the stream's ceiling of {ceiling}"
                )
        return "; ".join(reasons) or None

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def until_stopping(self) -> None:
        await self._stopping.wait()

    async def sleep(self, seconds: float) -> None:
        """Sleep, waking early when stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _report_stats(self) -> None:
        from eventbus.operations import group_stats  # operations imports this module's neighbours only

        while not self.stopping:
            for channel in self._channels:
                try:
                    for stats in await group_stats(self.bus, channel.sub.channel):
                        if stats.group == self.group:
                            stats.export(channel.sub.channel)
                            self._note(channel.sub.channel, stats)
                except (RedisError, OSError):
                    pass  # the read loops log the outage; gauges keep their last value
            await self.sleep(self.stats_interval)

    def _note(self, channel: str, stats: GroupStats) -> None:
        before = self._stats.get(channel)
        self._stats[channel] = stats
        seen = before.dropped if before is not None else 0
        recent = stats.dropped_at is not None and datetime.now(UTC) - stats.dropped_at < DEGRADED_AFTER_DROP
        if stats.dropped > seen and (before is not None or recent):
            log.error(
                "events_dropped_unread",
                channel=channel,
                group=self.group,
                dropped=stats.dropped - seen,
                dropped_total=stats.dropped,
                ceiling=self.bus.settings.ceiling,
            )
