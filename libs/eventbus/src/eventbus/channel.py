"""One channel's consume loop inside a :class:`~eventbus.consumer.Consumer`: read and admit, handle, retry,
dead-letter, keep what is ours and reclaim what the dead left. The life of an entry is told in
``docs/architecture.md``; the atomic steps are the Lua scripts in ``lua/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import structlog
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, RedisError, ResponseError

from eventbus import catalog, context, metrics, tracing
from eventbus.client import outage, unreachable
from eventbus.dlq import dead_letter_fields, reason_for
from eventbus.durability import run_acknowledged
from eventbus.envelope import Envelope
from eventbus.errors import (
    HandlerTimeout,
    InvalidEvent,
    MalformedEntry,
    Outage,
    PermanentFailure,
    UnsupportedVersion,
)
from eventbus.lanes import REDIRECTED, Lane
from eventbus.line import Command
from eventbus.subscription import Subscription

if TYPE_CHECKING:
    from eventbus.consumer import Consumer

log = structlog.get_logger("eventbus.consumer")
T = TypeVar("T")
#: Group-aware waits after a lost wake-up race: with N idle replicas, ~N-1 losses per this many entries.
_GROUPED_WAITS = 20


@dataclass
class Delivery:
    entry_id: str
    fields: dict[bytes, bytes]
    attempt: int
    member: str
    event_id: str = ""
    event: Envelope[Any] | None = None
    timed_out: bool = False
    #: times its handler reported an outage (no attempt counted for those), for the backoff
    outages: int = 0
    #: handled; its acknowledgement is queued or on its way to the server
    done: bool = False

    def __post_init__(self) -> None:
        self.event_id = self.fields.get(b"i", b"").decode(errors="replace")


class ChannelConsumer:
    """One channel's read loop, workers, heartbeat and reclaimer."""

    def __init__(self, owner: Consumer, sub: Subscription) -> None:
        self.owner = owner
        self.sub = sub
        self.bus = owner.bus
        keys = owner.bus.keys
        self.stream = keys.stream(sub.channel)
        self.script_keys = [
            self.stream,
            keys.processed(sub.channel, owner.group),
            keys.leases(sub.channel, owner.group),
            keys.order(sub.channel, owner.group),
        ]
        self.dlq = keys.dead_letters(sub.channel, owner.group)
        self.paths = json.dumps(list(sub.ordering_key)) if sub.ordering_key else ""
        self.lease_ms = owner.visibility_ms
        self.timeout = sub.timeout.total_seconds() if sub.timeout is not None else None
        bus_settings = owner.bus.settings
        ttl_ms = int(bus_settings.processed_retention.total_seconds() * 1000)
        self.processed_bounds = f"{ttl_ms}|{bus_settings.processed_maxlen}"

        self.prefetch = max(owner.batch_size, sub.concurrency) * 2
        self.held: dict[str, Delivery] = {}
        self.events: dict[str, str] = {}  # event id → entry id, for entries held here
        self.twins: dict[str, list[Delivery]] = {}
        self.waiting: dict[str, Delivery] = {}
        self.queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self.acks: list[Delivery] = []  # handled, acknowledgement not yet on the server
        self.wake = asyncio.Event()
        self.closing = False
        self.blocked = False
        #: the stream's newest entry id when a read of new entries last found none: a blocking wait resumes
        #: from there (None: not known, wait the old way)
        self.top: str | None = None
        #: waits left to make the group-aware way after losing a wake-up race (see _wait_and_read)
        self.grouped_waits = 0
        self.flushing: asyncio.Task[None] | None = None
        self.active: set[str] = set()
        self.deadlines: dict[asyncio.Task[None], tuple[float, list[Delivery]]] = {}
        #: Redis is away: no handler starts before this moment (time.monotonic; 0: no pause); see _wait_out
        self.resume_at = 0.0
        self.outages = 0  # consecutive Redis outages met by handlers, for the pause's backoff
        labels = (sub.channel, owner.group)
        self.m_handled = metrics.HANDLED.labels(*labels)
        self.m_failed = metrics.FAILED.labels(*labels)
        self.m_retried = metrics.RETRIED.labels(*labels)
        self.m_outage_waits = metrics.OUTAGE_WAITS.labels(*labels)
        self.m_skipped = metrics.SKIPPED.labels(*labels)
        self.m_reclaimed = metrics.RECLAIMED.labels(*labels)
        self.m_wakeups_lost = metrics.WAKEUPS_LOST.labels(*labels)
        self.m_seconds = metrics.HANDLE_SECONDS.labels(*labels)
        self.log = log.bind(group=owner.group, consumer=owner.name, channel=sub.channel)
        # The read-and-settle scripts go over a connection of their own, sent at once (eventbus.lanes).
        self.lane = Lane(self.bus.redis, self.stream)
        #: and the blocking wait on another, so that acknowledgements can go out meanwhile
        self.block_lane = Lane(self.bus.redis, self.stream)

    # -- the loop ---------------------------------------------------------------------------------------

    async def run(self) -> None:
        if self.sub.batch_handler is not None:
            workers = [asyncio.create_task(self._work_batches())]
        else:
            workers = [asyncio.create_task(self._work()) for _ in range(self.sub.concurrency)]
        keepers = [asyncio.create_task(self._keep()), asyncio.create_task(self._watchdog())]
        try:
            await self._loop()
        finally:
            await self._shutdown(workers, keepers)

    async def _loop(self) -> None:
        failures = 0
        cursor: str | None = "0"  # drain our own pending entries first: ">" never returns them again
        while not self.owner.stopping:
            try:
                await self._ensure_group()
                while not self.owner.stopping:
                    cursor = await self._cycle(cursor)
                    failures = 0
            except ResponseError as exc:
                if _group_gone(exc):
                    self.log.warning("consumer_group_missing", error=str(exc))
                    cursor = "0"
                    continue
                if not _slot_moving(exc):
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
        self.log.warning(what, error=str(exc), retry_in=round(delay, 2))
        await self.owner.sleep(delay)
        return "0"

    async def _ensure_group(self) -> None:
        try:
            await self.bus.redis.xgroup_create(
                self.stream, self.owner.group, self.owner.start_from, mkstream=True
            )
            self.log.info("consumer_group_created", start_from=self.owner.start_from)
            # The publish script's cached floor did not know this group: let the next publish look again.
            await self.bus.redis.hset(self.bus.keys.retention(self.sub.channel), "floor_until", 0)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _cycle(self, cursor: str | None) -> str | None:
        room = self._room()
        if room <= 0 and not self.acks:
            await self._wait(0.1 if self.waiting else 1.0)  # woken by a completion
            room = self._room()
            if room <= 0 and not self.acks and not self.waiting:
                return cursor
        self.wake.clear()
        count = max(0, min(self.owner.batch_size, room))
        admitted, runnable, last = await self._read(cursor or ">", count, list(self.waiting))
        for member in runnable:
            delivery = self.waiting.pop(member, None)
            if delivery is not None:
                self.queue.put_nowait(delivery)
        self._dispatch(admitted)
        if cursor is not None:
            # An empty page of our own pending entries ends the drain; a page we could not read does not.
            return (last or None) if count else cursor
        if not admitted and not last and count and not self.owner.stopping:
            if self.waiting:
                await self._wait(0.05)  # other replicas finish heads too: look again soon
            else:
                await self._block(count)
        return None

    def _room(self) -> int:
        """How many entries the next read may take. Handled entries whose acknowledgement rides on that same
        read are settled on the server before it reads, so they do not count: counting them would stall the
        read until a separate acknowledgement round trip, and the consumer and Redis would take turns instead
        of working at the same time (one batch handled here while the server settles the previous one and
        reads the next)."""
        return self.prefetch - len(self.held) + len(self.acks)

    async def _wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), seconds)

    async def _read(self, start: str, count: int, waiting: list[str]) -> tuple[list[Any], list[str], str]:
        acks, self.acks = self.acks, []
        args: list[Any] = [
            self.owner.group,
            self.owner.name,
            start,
            count,
            self.lease_ms,
            self.processed_bounds,
            self.paths,
            *_packed(acks),
        ]
        args.append(len(waiting))
        args.extend(waiting)
        try:
            admitted, runnable, last, duplicates, _leased, top = await self._marking(
                self.bus.scripts.read, args, acks
            )
        except BaseException:
            self.acks[:0] = acks  # not settled: keep them for the next round trip
            raise
        self._acknowledged(acks)
        if duplicates:
            self.m_skipped.inc(duplicates)
        if start == ">" and count:  # only a read of new entries tells where the undelivered ones begin
            self.top = top.decode() or last.decode()
        return admitted, [m.decode() for m in runnable], last.decode()

    async def _block(self, room: int) -> None:
        """Nothing to read: wait on the server for new entries, flushing acknowledgements meanwhile."""
        self.blocked = True
        read = asyncio.ensure_future(self._wait_and_read(room))
        stop = asyncio.ensure_future(self.owner.until_stopping())
        try:
            await asyncio.wait({read, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.blocked = False
            stop.cancel()
        if not read.done():
            # Stopping: do not hold shutdown for the rest of the block. Anything the server handed us in
            # the meantime stays pending under our name: drained on restart, or reclaimed by a replica.
            read.cancel()
            await asyncio.gather(read, return_exceptions=True)
            return
        admitted, reply = read.result()
        if admitted is not None:
            self._dispatch(admitted)
            return
        if not reply:
            return
        if self.flushing is not None:
            await asyncio.gather(self.flushing, return_exceptions=True)
        ids = [entry_id for entry_id, _ in reply[0][1]]
        acks, self.acks = self.acks, []
        args: list[Any] = [
            self.owner.group,
            self.owner.name,
            self.lease_ms,
            self.paths,
            self.processed_bounds,
            *_packed(acks),
        ]
        try:
            admitted, duplicates, _leased = await self._marking(self.bus.scripts.admit, [*args, *ids], acks)
        except BaseException:
            self.acks[:0] = acks
            raise
        self._acknowledged(acks)
        if duplicates:
            self.m_skipped.inc(duplicates)
        self._dispatch(admitted)

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
        owner = self.owner
        args: list[Any] = [
            owner.group,
            owner.name,
            ">",
            room,
            self.lease_ms,
            self.processed_bounds,
            self.paths,
        ]
        args += [*_packed([]), 0]
        wait: Command = (("XREAD", "COUNT", 1, "BLOCK", owner.block_ms, "STREAMS", self.stream, self.top), {})
        reply = await self.block_lane.send(
            self.bus.scripts.read, self.script_keys, args, wait, longer_by=owner.block_ms / 1000
        )
        if isinstance(reply, (NoScriptError, *REDIRECTED)):
            # The script did not run, so nothing was read: wait the old way (through the cluster client); the
            # next non-blocking read loads the script again.
            return None, await self._read_blocking(room)
        if isinstance(reply, Exception):
            raise reply
        admitted, _runnable, last, duplicates, _leased, top = reply
        if duplicates:
            self.m_skipped.inc(duplicates)
        newest = top.decode() or last.decode()
        if not last and newest != self.top:
            # Woken by a new entry that another replica read first: a plain XREAD wakes every idle replica
            # for every entry. Wait the group-aware way for a while (Redis hands each new entry to one
            # blocked XREADGROUP), then try the one-round-trip wait again; a lone replica never loses.
            self.m_wakeups_lost.inc()
            self.grouped_waits = _GROUPED_WAITS
        self.top = newest
        return list(admitted), None

    async def _read_blocking(self, room: int) -> Any:
        return await self.bus.redis.xreadgroup(
            self.owner.group, self.owner.name, {self.stream: ">"}, count=room, block=self.owner.block_ms
        )

    async def _marking(self, script: AsyncScript, args: list[Any], acks: list[Delivery]) -> Any:
        """Run a read/admit script that also writes ``acks`` (processed marks + XACK). With a write
        acknowledgement level set, wait until the marks are on the replicas too: a mark lost in a failover
        means the event is handled again (idempotent side effects absorb it, but it costs a repeat)."""
        ack = self.bus.write_ack
        if not acks or not ack.enabled:
            return await self.lane.run(script, self.script_keys, args)
        result, missing = await run_acknowledged(self.bus.redis, ack, script, self.script_keys, args)
        if missing is not None:
            self.log.warning("consumer_marks_not_acknowledged", missing=missing, count=len(acks))
        return result

    def _dispatch(self, admitted: list[Any]) -> None:
        for entry_id_b, raw_fields, attempt, member_b, runnable in admitted:
            entry_id = entry_id_b.decode()
            if entry_id in self.held:
                continue  # already ours in this process (a reclaim of our own slow entry)
            fields = dict(zip(raw_fields[::2], raw_fields[1::2], strict=True))
            delivery = Delivery(entry_id, fields, int(attempt), member_b.decode())
            self.held[entry_id] = delivery
            if delivery.event_id and delivery.event_id in self.events:
                # Another copy of an event this process is handling right now (a re-added entry): our own
                # lease does not stop us, so park it and settle it with the original.
                self.twins.setdefault(delivery.event_id, []).append(delivery)
                continue
            if delivery.event_id:
                self.events[delivery.event_id] = entry_id
            if runnable:
                self.queue.put_nowait(delivery)
            else:
                self.waiting[delivery.member] = delivery

    def _acknowledged(self, acks: list[Delivery]) -> None:
        if acks:
            self.m_handled.inc(sum(1 for d in acks if d.done))
        for d in acks:
            # Parked copies of a processed event are acknowledged in the next round trip.
            self.acks.extend(self._forget(d))

    def _forget(self, d: Delivery) -> list[Delivery]:
        """Drop ``d`` from what we hold; returns its parked twins."""
        self.held.pop(d.entry_id, None)
        if self.events.get(d.event_id) == d.entry_id:
            del self.events[d.event_id]
            return self.twins.pop(d.event_id, [])
        return []

    # -- handling ---------------------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            delivery = await self.queue.get()
            if self.resume_at:
                await self._until_resumed()
            if self.held.get(delivery.entry_id) is not delivery or self.closing:
                continue  # lost to a reclaim while queued (maybe held again, as another delivery), or shutting down
            self.active.add(delivery.entry_id)
            try:
                await self._handle(delivery)
            except Exception:
                self._stranded([delivery])
            finally:
                self.active.discard(delivery.entry_id)

    def _stranded(self, deliveries: list[Delivery]) -> None:
        """Handling failed outside the handler (a bug of ours): log it and try the unfinished ones again after
        a backoff, rather than lose the worker, or hold them, renewing their leases, until a restart."""
        self.log.exception("consumer_handling_failed", entries=len(deliveries))
        for d in deliveries:
            if not d.done:
                d.attempt += 1  # counted, so that a bug that keeps failing ends in a dead letter, not a loop
                asyncio.get_running_loop().call_later(self.sub.backoff.delay(d.attempt), self._requeue, d)

    async def _handle(self, d: Delivery) -> None:
        if d.event is None:
            try:
                d.event = self._parse(d)
            except InvalidEvent as exc:
                await self._dead_letter(d, exc)
                return
        event = d.event
        token = context.enter(event, {"group": self.owner.group, "attempt": d.attempt})
        started = time.perf_counter()
        try:
            assert self.sub.handler is not None  # per-event workers run for a per-event subscription only
            if tracing.enabled():
                with tracing.handling(event, self.owner.group):
                    await self._run_handler([d], self.sub.handler(event))
            else:
                await self._run_handler([d], self.sub.handler(event))
        except Exception as exc:
            await self._failed(d, exc)
        else:
            self.outages = 0
            self.m_seconds.observe(time.perf_counter() - started)
            self._settle(d)  # counted as handled once acknowledged (_acknowledged): one inc per batch
        finally:
            context.leave(token)

    async def _failed(self, d: Delivery, exc: Exception) -> None:
        if outage(exc):
            self._wait_out(d, exc)
            return
        self.m_failed.inc()
        if isinstance(exc, PermanentFailure):
            await self._dead_letter(d, exc)
        else:
            await self._retry_or_give_up(d, exc)

    async def _run_handler(self, ds: list[Delivery], call: Awaitable[T]) -> T:
        """``call`` (the handler's, on ``ds``' events), under the watchdog when the subscription has a
        timeout."""
        if self.timeout is None:  # no watchdog to register with: the hot path of most handlers
            return await call
        task = asyncio.current_task()
        if task is not None:
            self.deadlines[task] = (time.monotonic() + self.timeout, ds)
        try:
            return await call
        except asyncio.CancelledError:
            if not ds[0].timed_out:
                raise
            # The watchdog cancelled this worker's handler, not the worker: carry on as a failed attempt.
            for d in ds:
                d.timed_out = False
            if task is not None:
                task.uncancel()
            raise HandlerTimeout(f"handler ran longer than {self.timeout:g}s") from None
        finally:
            if task is not None:
                self.deadlines.pop(task, None)

    # -- handling in batches ------------------------------------------------------------------------------

    async def _work_batches(self) -> None:
        """Hand what is ready to the batch handler: up to ``max_batch`` events per call, ``concurrency`` events
        in flight in all. Each call runs in a task of its own, so a slow call (a language model's) does not
        hold back the next, and many small batches (events trickling in) fill the budget as a few large ones
        do."""
        budget = asyncio.Semaphore(self.sub.concurrency)
        calls: set[asyncio.Task[None]] = set()
        try:
            while True:
                await budget.acquire()
                batch = [await self.queue.get()]
                if self.resume_at:
                    await self._until_resumed()
                while len(batch) < self.sub.max_batch and not self.queue.empty() and not budget.locked():
                    await budget.acquire()  # free: returns at once
                    batch.append(self.queue.get_nowait())  # what is ready now: a batch never waits to fill
                ready = [d for d in batch if self.held.get(d.entry_id) is d and not self.closing]
                for _ in range(len(batch) - len(ready)):
                    budget.release()
                if not ready:
                    continue
                self.active.update(d.entry_id for d in ready)
                call = asyncio.create_task(self._call_batch(ready, budget))
                calls.add(call)
                call.add_done_callback(calls.discard)
        finally:
            for call in calls:
                call.cancel()
            await asyncio.gather(*calls, return_exceptions=True)

    async def _call_batch(self, batch: list[Delivery], budget: asyncio.Semaphore) -> None:
        try:
            await self._handle_batch(batch)
        except Exception:
            self._stranded(batch)
        finally:
            self.active.difference_update(d.entry_id for d in batch)
            for _ in batch:
                budget.release()

    async def _handle_batch(self, batch: list[Delivery]) -> None:
        ready: list[Delivery] = []
        invalid: list[tuple[Delivery, InvalidEvent]] = []
        for d in batch:
            if d.event is None:
                try:
                    d.event = self._parse(d)
                except InvalidEvent as exc:
                    invalid.append((d, exc))
                    continue
            ready.append(d)
        if ready:
            await self._handle_together(ready)
        for d, reason in invalid:  # after the others: their acknowledgements need not wait on these writes
            await self._dead_letter(d, reason)

    async def _handle_together(self, ready: list[Delivery]) -> None:
        started = time.perf_counter()
        outcomes: Sequence[Exception | None]
        events = [d.event for d in ready if d.event is not None]
        assert self.sub.batch_handler is not None  # a batch worker runs for a batch subscription only
        batch = context.enter_batch(events)  # what the handler publishes inherits its cause's request id
        with tracing.handling_batch(events, self.owner.group) as spans:
            try:
                outcomes = await self._run_handler(ready, self.sub.batch_handler(events))
                if len(outcomes) != len(ready):
                    raise TypeError(
                        f"batch handler returned {len(outcomes)} outcomes for {len(ready)} events"
                    )
            except Exception as exc:
                outcomes = [exc] * len(ready)
            finally:
                context.leave_batch(batch)
            for event, outcome in zip(events, outcomes, strict=True):
                if outcome is not None and event.id in spans:
                    tracing.failed(spans[event.id], outcome)
        elapsed = time.perf_counter() - started
        failures: list[tuple[Delivery, Exception]] = []
        for d, outcome in zip(ready, outcomes, strict=True):
            if outcome is None:
                self.outages = 0
                self.m_seconds.observe(elapsed)  # each event waited for the whole call
                self._settle(d)
            else:
                failures.append((d, outcome))
        # After every success is settled: retries and dead letters take round trips.
        for d, failure in failures:
            assert d.event is not None
            token = context.enter(d.event, {"group": self.owner.group, "attempt": d.attempt})
            try:
                await self._failed(d, failure)
            finally:
                context.leave(token)

    async def _watchdog(self) -> None:
        """Cancel handlers that outlive the subscription's timeout (one timer for all of them: a timeout
        scope per event costs ~12 µs on the hot path)."""
        if self.timeout is None:
            return
        interval = min(1.0, self.timeout / 4)
        while not self.owner.stopping:
            now = time.monotonic()
            for task, (deadline, ds) in list(self.deadlines.items()):
                if now >= deadline and not ds[0].timed_out:
                    for d in ds:
                        d.timed_out = True
                    task.cancel()
            await self.owner.sleep(interval)

    def _parse(self, d: Delivery) -> Envelope[Any]:
        data = d.fields.get(b"e")
        if data is None:
            raise MalformedEntry("stream entry has no envelope field 'e'")
        event_type = d.fields.get(b"t", b"").decode(errors="replace") or None
        version_raw = d.fields.get(b"v", b"").decode(errors="replace")
        version = int(version_raw) if version_raw.isdigit() else None
        if event_type is not None and version is None and version_raw:
            raise UnsupportedVersion(event_type, version_raw)
        event = catalog.parse(data, event_type=event_type, version=version)
        if event.type != self.sub.channel:
            raise MalformedEntry(f"{event.type} event found in the {self.sub.channel} stream")
        if d.event_id and event.id != d.event_id:
            raise MalformedEntry(f"entry says event {d.event_id}, envelope says {event.id}")
        d.event_id = event.id
        return event

    def _settle(self, d: Delivery) -> None:
        # The entry stays held until its acknowledgement is on the server: until then a redelivery of it,
        # or of a copy of its event, must be recognised here (Redis does not know it is done yet).
        if d.entry_id not in self.held:
            return
        d.done = True
        self.acks.append(d)
        self.wake.set()
        if self.blocked and self.flushing is None:
            self.flushing = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self.acks and self.blocked:
                await self._read(">", 0, [])
        except (RedisError, OSError) as exc:
            self.log.warning("consumer_ack_deferred", error=str(exc))
        finally:
            self.flushing = None

    def _wait_out(self, d: Delivery, exc: Exception) -> None:
        """A dependency is down and nothing was done: put the event back without counting an attempt (no
        ``XCLAIM RETRYCOUNT``, ``d.attempt`` unchanged), so an outage longer than all the attempts' backoffs
        never ends in a dead letter. The heartbeat keeps the entry ours meanwhile; a shutdown releases it as any
        held entry.

        Redis away (the bus's own commands, or the handler's) stops every handler of the channel alike, so the
        channel pauses. An ``Outage`` names one dependency (one company's Evolution instance, Meta): only this
        event waits, and the others go on."""
        self.m_outage_waits.inc()
        d.outages += 1
        if isinstance(exc, Outage):
            delay = exc.retry_after
            if delay is None:
                delay = self.sub.outage_backoff.delay(d.outages)
            if d.outages == 1:  # one line per event's outage, not one per try
                log.warning("event_handler_outage", error=repr(exc)[:500], retry_in=round(delay, 3))
            asyncio.get_running_loop().call_later(delay, self._requeue, d)
            return
        self.outages += 1
        delay = self.sub.outage_backoff.delay(self.outages)
        now = time.monotonic()
        if self.resume_at <= now:  # one line per pause, not one per event put back
            log.warning("consumer_paused_for_outage", error=repr(exc)[:500], retry_in=round(delay, 3))
        self.resume_at = max(self.resume_at, now + delay)
        self._requeue(d)

    async def _until_resumed(self) -> None:
        while (left := self.resume_at - time.monotonic()) > 0 and not self.owner.stopping:
            await self.owner.sleep(left)
        self.resume_at = 0.0  # a float test per event on the hot path, rather than a clock read and an await

    async def _retry_or_give_up(self, d: Delivery, exc: Exception) -> None:
        if d.attempt >= self.sub.max_attempts:
            await self._dead_letter(d, exc, reason="max_attempts")
            return
        delay = self.sub.backoff.delay(d.attempt)
        self.m_retried.inc()
        log.warning("event_handler_failed", error=repr(exc)[:500], retry_in=round(delay, 3))
        # Record the attempt in the stream itself: a crash during the backoff must not reset the count. If
        # Redis is away, the in-process count still holds and the heartbeat keeps the entry ours.
        try:
            await self.bus.redis.xclaim(
                self.stream,
                self.owner.group,
                self.owner.name,
                0,
                [d.entry_id],
                retrycount=d.attempt,
                justid=True,
            )
        except Exception as exc:
            if not unreachable(exc):
                raise  # a bug, not an outage
        d.attempt += 1
        asyncio.get_running_loop().call_later(delay, self._requeue, d)

    def _dispatch_again(self, d: Delivery) -> None:
        self.events[d.event_id] = d.entry_id
        self.queue.put_nowait(d)

    def _requeue(self, d: Delivery) -> None:
        if self.held.get(d.entry_id) is d and not self.owner.stopping:
            self.queue.put_nowait(d)

    async def _dead_letter(self, d: Delivery, exc: Exception, *, reason: str | None = None) -> None:
        reason = reason or reason_for(exc)
        event_type = d.event.type if d.event else self.sub.channel
        record = dead_letter_fields(
            d.entry_id,
            d.fields,
            reason=reason,
            error=exc,
            event_id=d.event_id,
            channel=self.sub.channel,
            group=self.owner.group,
            consumer=self.owner.name,
            attempts=d.attempt,
        )
        args: list[Any] = [
            self.owner.group,
            d.entry_id,
            d.event_id,
            d.member,
            self.bus.settings.dead_letter_maxlen,
        ]
        for key, value in record.items():
            args.extend((key, value))
        while True:
            try:
                await self.bus.scripts.dead_letter(
                    keys=[self.stream, self.script_keys[2], self.script_keys[3], self.dlq], args=args
                )
                break
            except (RedisError, OSError) as exc2:
                # Keep the entry until the dead letter is written: dropping it here would lose it.
                self.log.warning("dead_letter_write_failed", error=str(exc2))
                if self.owner.stopping:
                    return
                await self.owner.sleep(1.0)
        for twin in self._forget(d):
            self._dispatch_again(twin)
        self.wake.set()
        metrics.DEAD_LETTERED.labels(event_type, self.owner.group, reason).inc()
        log.error(
            "event_dead_lettered",
            reason=reason,
            error=record["error"],
            attempts=d.attempt,
            entry_id=d.entry_id,
            channel=self.sub.channel,
            group=self.owner.group,
        )

    # -- keeping what is ours, taking over what the dead left ---------------------------------------------

    async def _keep(self) -> None:
        interval = self.owner.visibility_ms / 3000
        next_reclaim = 0.0
        while not self.owner.stopping:
            try:
                await self._heartbeat()
                if time.monotonic() >= next_reclaim:
                    await self._reclaim()
                    next_reclaim = time.monotonic() + interval * 1.5
            except ResponseError as exc:
                if not _group_gone(exc):
                    self.log.warning("consumer_keep_failed", error=str(exc))
            except (RedisError, OSError) as exc:
                self.log.debug("consumer_keep_failed", error=str(exc))
            await self.owner.sleep(interval)

    async def _heartbeat(self) -> None:
        if not self.held:
            return
        args: list[Any] = [self.owner.group, self.owner.name, self.lease_ms]
        for d in list(self.held.values()):
            if not d.done:  # a done entry may be acknowledged while this call is in flight: not "lost"
                args.extend((d.entry_id, d.event_id))
        lost = await self.bus.scripts.heartbeat(keys=[self.stream, self.script_keys[2]], args=args)
        for lost_id in lost:
            gone = self.held.get(lost_id.decode())
            # Another consumer reclaimed it (we stalled past the visibility timeout). A running handler
            # finishes and acknowledges (its side effect is done); anything not started is given up.
            if gone is not None and gone.entry_id not in self.active:
                self.waiting.pop(gone.member, None)
                for twin in self._forget(gone):
                    self._dispatch_again(twin)
                self.log.warning("consumer_entry_lost", entry_id=gone.entry_id)

    async def _reclaim(self) -> None:
        cursor = "0-0"
        while not self.owner.stopping:
            room = self.prefetch - len(self.held)
            if room <= 0:
                return
            admitted, cursor_b, duplicates, _leased = await self.bus.scripts.reclaim(
                keys=self.script_keys,
                args=[
                    self.owner.group,
                    self.owner.name,
                    self.owner.visibility_ms,
                    cursor,
                    min(room, self.owner.batch_size),
                    self.lease_ms,
                    self.paths,
                ],
            )
            if admitted:
                self.m_reclaimed.inc(len(admitted))
                self.log.info("consumer_reclaimed", entries=len(admitted))
            if duplicates:
                self.m_skipped.inc(duplicates)
            self._dispatch(admitted)
            cursor = cursor_b.decode()
            if cursor == "0-0":
                return

    # -- shutdown ---------------------------------------------------------------------------------------

    async def _shutdown(self, workers: list[asyncio.Task[None]], keepers: list[asyncio.Task[None]]) -> None:
        # Nothing new starts; running handlers get the grace period; everything else is released.
        self.closing = True
        deadline = time.monotonic() + self.owner.shutdown_grace
        while self.active and time.monotonic() < deadline:  # noqa: ASYNC110 - handlers end on their own
            await asyncio.sleep(0.01)
        for task in (*workers, *keepers):
            task.cancel()
        await asyncio.gather(*workers, *keepers, return_exceptions=True)
        if self.flushing is not None:
            await asyncio.gather(self.flushing, return_exceptions=True)
        try:
            if self.acks:
                await self._read(">", 0, [])
            await self._release()
        except (RedisError, OSError) as exc:
            self.log.warning("consumer_shutdown_incomplete", error=str(exc))
        finally:
            await self.lane.aclose()
            await self.block_lane.aclose()

    async def _release(self) -> None:
        """Hand back what we hold but did not finish (backoff, interrupted handlers): drop our leases and
        make the entries look idle for a whole visibility timeout, so a live replica takes them now."""
        if not self.held:
            return
        async with self.bus.redis.pipeline(transaction=False) as pipe:
            for d in self.held.values():
                pipe.xclaim(
                    self.stream,
                    self.owner.group,
                    self.owner.name,
                    0,
                    [d.entry_id],
                    idle=self.owner.visibility_ms * 2,
                    justid=True,
                )
                if d.event_id:
                    pipe.hdel(self.script_keys[2], d.event_id)
            await pipe.execute()
        self.log.info("consumer_released", entries=len(self.held))
        self.held.clear()
        self.events.clear()
        self.twins.clear()
        self.waiting.clear()


def _slot_moving(exc: ResponseError) -> bool:
    """The channel's slot is being migrated to another node (resharding): a script found one of its keys
    already gone to the other node (it settled the last lease, say, which deleted the key, and may not create
    it again there), or a redirect reached us. Whatever the script did before is safe to repeat: marks,
    acknowledgements and leases are idempotent."""
    return "non local key" in str(exc) or isinstance(exc, REDIRECTED)


def _group_gone(exc: ResponseError) -> bool:
    """The stream or group vanished (FLUSHALL, a failover to an empty replica, a deleted key)."""
    message = str(exc)
    return message.startswith(("NOGROUP", "UNBLOCKED")) or "NOGROUP" in message


def _packed(acks: list[Delivery]) -> list[str]:
    """Acknowledgements as ``settle_packed`` in ``lua/prelude.lua`` reads them: one argument for all, then the
    ordering members of the entries that have one."""
    packed = "".join(f"{d.entry_id} {d.event_id} {1 if d.member else 0}\n" for d in acks)
    return [packed, *(d.member for d in acks if d.member)]
