"""The per-event workers of one channel: take a queued entry, parse it against the catalog, run the handler
under the event's context (and the watchdog, when the subscription has a timeout), then settle it in the
ledger or hand the failure to the settler. ``batch_workers.py`` does the same for batch handlers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

from eventbus import catalog, context
from eventbus.channel_setup import ChannelSetup
from eventbus.envelope import Envelope
from eventbus.errors import HandlerTimeout, InvalidEvent, MalformedEntry, UnsupportedVersion
from eventbus.ledger import Delivery, Ledger
from eventbus.observe import ChannelObserver
from eventbus.retries import Settler

T = TypeVar("T")


class Handling:
    """What every worker does around a handler call: parse, watchdog, settle."""

    def __init__(
        self, setup: ChannelSetup, ledger: Ledger, settler: Settler, observer: ChannelObserver
    ) -> None:
        self.setup = setup
        self.ledger = ledger
        self.settler = settler
        self.observer = observer
        self.group = setup.consumer.group

    def parse(self, d: Delivery) -> Envelope[Any]:
        """``d``'s envelope, checked against the catalog and against the entry that carried it."""
        data = d.fields.get(b"e")
        if data is None:
            raise MalformedEntry("stream entry has no envelope field 'e'")
        event_type = d.fields.get(b"t", b"").decode(errors="replace") or None
        version_raw = d.fields.get(b"v", b"").decode(errors="replace")
        version = int(version_raw) if version_raw.isdigit() else None
        if event_type is not None and version is None and version_raw:
            raise UnsupportedVersion(event_type, version_raw)
        event = catalog.parse(data, event_type=event_type, version=version)
        channel = self.setup.sub.channel
        if event.type != channel:
            raise MalformedEntry(f"{event.type} event found in the {channel} stream")
        if d.event_id and event.id != d.event_id:
            raise MalformedEntry(f"entry says event {d.event_id}, envelope says {event.id}")
        d.event_id = event.id
        return event

    def succeeded(self, d: Delivery, seconds: float) -> None:
        self.settler.succeeded()
        self.observer.handled(seconds)
        self.ledger.settle(d)  # counted as handled once acknowledged: one inc per round trip

    async def run(self, ds: list[Delivery], call: Awaitable[T]) -> T:
        """``call`` (the handler's, on ``ds``' events), under the watchdog when the subscription has a
        timeout."""
        timeout = self.setup.timeout
        if timeout is None:  # no watchdog to register with: the hot path of most handlers
            return await call
        task = asyncio.current_task()
        if task is not None:
            self.ledger.watch(task, time.monotonic() + timeout, ds)
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
            raise HandlerTimeout(f"handler ran longer than {timeout:g}s") from None
        finally:
            if task is not None:
                self.ledger.unwatch(task)

    async def watchdog(self) -> None:
        """Cancel handlers that outlive the subscription's timeout (one timer for all of them: a timeout
        scope per event costs ~12 µs on the hot path)."""
        timeout, consumer = self.setup.timeout, self.setup.consumer
        if timeout is None:
            return
        interval = min(1.0, timeout / 4)
        while not consumer.stopping:
            for task in self.ledger.overdue(time.monotonic()):
                task.cancel()
            await consumer.sleep(interval)


async def work(h: Handling) -> None:
    """One per-event worker: runs until cancelled."""
    ledger, settler = h.ledger, h.settler
    while True:
        delivery = await ledger.queue.get()
        if ledger.resume_at:
            await settler.until_resumed()
        if not ledger.current(delivery):
            continue  # lost to a reclaim while queued (maybe held again, as another delivery), or shutting down
        ledger.start_one(delivery)
        try:
            await _handle(h, delivery)
        except Exception:
            settler.stranded([delivery])
        finally:
            ledger.finish_one(delivery)


async def _handle(h: Handling, d: Delivery) -> None:
    if d.event is None:
        try:
            d.event = h.parse(d)
        except InvalidEvent as exc:
            await h.settler.dead_letter(d, exc)
            return
    event = d.event
    handler = h.setup.sub.handler
    assert handler is not None  # per-event workers run for a per-event subscription only
    attempt = d.attempt
    token = context.enter(event, {"group": h.group, "attempt": attempt})
    started = time.perf_counter()
    try:
        if h.observer.tracing():
            with h.observer.span(event):
                await h.run([d], handler(event))
        else:
            await h.run([d], handler(event))
    except Exception as exc:
        await h.settler.failed(d, exc)
        return
    finally:
        context.leave(token)
    seconds = time.perf_counter() - started
    h.succeeded(d, seconds)
    h.observer.event_handled(event, attempt, seconds)
