"""What happens to an event whose handler failed: wait out an outage without counting an attempt, retry with
backoff (the attempt recorded in the stream, so that it survives a crash), or dead-letter it with a reason."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from redis.exceptions import RedisError

from eventbus.channel_setup import ChannelSetup
from eventbus.client import outage, unreachable
from eventbus.dlq import dead_letter_fields, reason_for
from eventbus.errors import Outage, PermanentFailure
from eventbus.ledger import Delivery, Ledger
from eventbus.observe import ChannelObserver


class Settler:
    def __init__(self, setup: ChannelSetup, ledger: Ledger, observer: ChannelObserver) -> None:
        self._setup = setup
        self._ledger = ledger
        self._observer = observer
        self._outages = 0  # consecutive Redis outages met by handlers, for the pause's backoff

    def succeeded(self) -> None:
        self._outages = 0

    async def failed(self, d: Delivery, exc: Exception) -> None:
        """``d``'s handler raised ``exc`` (the worker has entered the event's logging context)."""
        if outage(exc):
            self._wait_out(d, exc)
            return
        self._observer.failed()
        if isinstance(exc, PermanentFailure):
            await self.dead_letter(d, exc)
        else:
            await self._retry_or_give_up(d, exc)

    def stranded(self, deliveries: list[Delivery]) -> None:
        """Handling failed outside the handler (a bug of ours): log it and try the unfinished ones again after
        a backoff, rather than lose the worker, or hold them, renewing their leases, until a restart."""
        self._observer.log.exception("consumer_handling_failed", entries=len(deliveries))
        for d in deliveries:
            if not d.done:
                d.attempt += 1  # counted, so that a bug that keeps failing ends in a dead letter, not a loop
                self._later(self._setup.sub.backoff.delay(d.attempt), d)

    def _later(self, delay: float, d: Delivery) -> None:
        asyncio.get_running_loop().call_later(delay, self._ledger.requeue, d)

    def _wait_out(self, d: Delivery, exc: Exception) -> None:
        """A dependency is down and nothing was done: put the event back without counting an attempt (no
        ``XCLAIM RETRYCOUNT``, ``d.attempt`` unchanged), so an outage longer than all the attempts' backoffs
        never ends in a dead letter. The heartbeat keeps the entry ours meanwhile; a shutdown releases it as any
        held entry.

        Redis away (the bus's own commands, or the handler's) stops every handler of the channel alike, so the
        channel pauses. An ``Outage`` names one dependency (one company's Evolution instance, Meta): only this
        event waits, and the others go on."""
        sub, log = self._setup.sub, self._observer.event_log
        self._observer.outage_wait()
        d.outages += 1
        if isinstance(exc, Outage):
            delay = exc.retry_after
            if delay is None:
                delay = sub.outage_backoff.delay(d.outages)
            if d.outages == 1:  # one line per event's outage, not one per try
                log.warning("event_handler_outage", error=repr(exc)[:500], retry_in=round(delay, 3))
            self._later(delay, d)
            return
        self._outages += 1
        delay = sub.outage_backoff.delay(self._outages)
        now = time.monotonic()
        ledger = self._ledger
        if ledger.resume_at <= now:  # one line per pause, not one per event put back
            log.warning("consumer_paused_for_outage", error=repr(exc)[:500], retry_in=round(delay, 3))
        ledger.resume_at = max(ledger.resume_at, now + delay)
        ledger.requeue(d)

    async def until_resumed(self) -> None:
        """Wait out the channel's pause (Redis away), if any."""
        ledger, consumer = self._ledger, self._setup.consumer
        while (left := ledger.resume_at - time.monotonic()) > 0 and not consumer.stopping:
            await consumer.sleep(left)
        ledger.resume_at = (
            0.0  # a float test per event on the hot path, rather than a clock read and an await
        )

    async def _retry_or_give_up(self, d: Delivery, exc: Exception) -> None:
        setup = self._setup
        if d.attempt >= setup.sub.max_attempts:
            await self.dead_letter(d, exc, reason="max_attempts")
            return
        delay = setup.sub.backoff.delay(d.attempt)
        self._observer.retrying(exc, delay)
        # Record the attempt in the stream itself: a crash during the backoff must not reset the count. If
        # Redis is away, the in-process count still holds and the heartbeat keeps the entry ours.
        try:
            await setup.bus.redis.xclaim(
                setup.stream,
                setup.consumer.group,
                setup.consumer.name,
                0,
                [d.entry_id],
                retrycount=d.attempt,
                justid=True,
            )
        except Exception as exc2:
            if not unreachable(exc2):
                raise  # a bug, not an outage
        d.attempt += 1
        self._later(delay, d)

    async def dead_letter(self, d: Delivery, exc: Exception, *, reason: str | None = None) -> None:
        """Move ``d`` to the group's dead letters with its reason; kept until that write succeeds."""
        setup = self._setup
        consumer, channel = setup.consumer, setup.sub.channel
        reason = reason or reason_for(exc)
        event_type = d.event.type if d.event else channel
        record = dead_letter_fields(
            d.entry_id,
            d.fields,
            reason=reason,
            error=exc,
            event_id=d.event_id,
            channel=channel,
            group=consumer.group,
            consumer=consumer.name,
            attempts=d.attempt,
        )
        args: list[Any] = [
            consumer.group,
            d.entry_id,
            d.event_id,
            d.member,
            setup.bus.settings.dead_letter_maxlen,
        ]
        for key, value in record.items():
            args.extend((key, value))
        keys = [setup.stream, setup.leases, setup.order, setup.dead_letters]
        while True:
            try:
                await setup.bus.scripts.dead_letter(keys=keys, args=args)
                break
            except (RedisError, OSError) as exc2:
                # Keep the entry until the dead letter is written: dropping it here would lose it.
                self._observer.log.warning("dead_letter_write_failed", error=str(exc2))
                if consumer.stopping:
                    return
                await consumer.sleep(1.0)
        self._ledger.dropped(d)
        self._observer.dead_lettered(
            event_type, reason, error=record["error"], attempts=d.attempt, entry_id=d.entry_id
        )
