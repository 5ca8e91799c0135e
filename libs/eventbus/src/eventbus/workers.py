"""The per-event workers of one channel: take a queued entry, parse it against the catalog, run the handler
under the event's context (and the watchdog, when the subscription has a timeout), then settle it in the
ledger or hand the failure to the settler. ``batch_workers.py`` does the same for batch handlers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
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
        #: parsers by the entries' hints (``t``, ``v``): those the catalog knows, at most a few per channel
        self._parsers: dict[tuple[bytes | None, bytes | None], Callable[[bytes], Envelope[Any]]] = {}

    def parse(self, d: Delivery) -> Envelope[Any]:
        """``d``'s envelope, checked against the catalog and against the entry that carried it."""
        fields = d.fields
        data = fields.get(b"e")
        if data is None:
            raise MalformedEntry("stream entry has no envelope field 'e'")
        hints = (fields.get(b"t"), fields.get(b"v"))
        parse = self._parsers.get(hints)
        if parse is None:
            parse = self._parser(*hints)
        event = parse(data)
        channel = self.setup.sub.channel
        if event.type != channel:
            raise MalformedEntry(f"{event.type} event found in the {channel} stream")
        if d.event_id and event.id != d.event_id:
            raise MalformedEntry(f"entry says event {d.event_id}, envelope says {event.id}")
        d.event_id = event.id
        return event

    def _parser(self, t: bytes | None, v: bytes | None) -> Callable[[bytes], Envelope[Any]]:
        """How to parse envelopes under these hints (the entry's ``t`` and ``v`` fields, either may be absent),
        kept for the next entries when the catalog knows them: a channel's stream carries one or two."""
        event_type = (t or b"").decode(errors="replace") or None
        version_raw = (v or b"").decode(errors="replace")
        version = int(version_raw) if version_raw.isdigit() else None
        if event_type is not None and version is None and version_raw:
            raise UnsupportedVersion(event_type, version_raw)
        if event_type is None or version is None:
            return partial(catalog.parse, event_type=event_type, version=version)
        parse = catalog.parser(event_type, version)  # raises for a type or version outside the catalog
        self._parsers[t, v] = parse
        return parse

    def succeeded(self, d: Delivery, event: Envelope[Any], seconds: float) -> None:
        self.settler.succeeded()
        self.observer.handled(event, d.attempt, seconds)
        self.ledger.settle(d)  # counted as handled once acknowledged: one inc per round trip

    async def run(self, ds: list[Delivery], call: Awaitable[T]) -> T:
        """``call`` (the handler's, on ``ds``' events), under the watchdog when the subscription has a
        timeout."""
        timeout = self.setup.timeout
        if timeout is None:  # no watchdog to register with
            return await call
        task = asyncio.current_task()
        if task is not None:
            self.ledger.watch(task, time.perf_counter() + timeout, ds)
        try:
            return await call
        except asyncio.CancelledError:
            if task is None or (late := self.timed_out(ds, task)) is None:
                raise
            raise late from None
        finally:
            if task is not None:
                self.ledger.unwatch(task)

    def timed_out(self, ds: Sequence[Delivery], task: asyncio.Task[Any]) -> HandlerTimeout | None:
        """After a ``CancelledError`` in ``task``, running ``ds``' handler: the watchdog's cancellation (the
        error to fail the attempt with; the worker carries on) or another's (None: let it through)."""
        if not ds[0].timed_out:
            return None
        for d in ds:
            d.timed_out = False
        task.uncancel()
        return HandlerTimeout(f"handler ran longer than {self.setup.timeout:g}s")

    async def watchdog(self) -> None:
        """Cancel handlers that outlive the subscription's timeout (one timer for all of them: a timeout
        scope per event costs ~12 µs on the hot path)."""
        timeout, consumer = self.setup.timeout, self.setup.consumer
        if timeout is None:
            return
        interval = min(1.0, timeout / 4)
        while not consumer.stopping:
            for task in self.ledger.overdue(time.perf_counter()):
                task.cancel()
            await consumer.sleep(interval)


async def work(h: Handling) -> None:
    """One per-event worker: runs until cancelled."""
    ledger, settler = h.ledger, h.settler
    # This worker's task, for the watchdog: asked once (asyncio.current_task is Python code on 3.11, ~0.4 µs).
    task = asyncio.current_task()
    assert task is not None
    while True:
        delivery = await ledger.queue.get()
        if ledger.resume_at:
            await settler.until_resumed()
        if not ledger.current(delivery):
            continue  # lost to a reclaim while queued (maybe held again, as another delivery), or shutting down
        ledger.start_one(delivery)
        try:
            await _handle(h, delivery, task)
        except Exception:
            settler.stranded([delivery])
        finally:
            ledger.finish_one(delivery)


async def _handle(h: Handling, d: Delivery, task: asyncio.Task[Any]) -> None:
    """The hot path of a per-event subscription: what ``Handling.run`` does for a batch, inlined (its
    coroutine, list and task lookup per event cost ~1 µs)."""
    if d.event is None:
        try:
            d.event = h.parse(d)
        except InvalidEvent as exc:
            await h.settler.dead_letter(d, exc)
            return
    event = d.event
    handler = h.setup.sub.handler
    assert handler is not None  # per-event workers run for a per-event subscription only
    timeout, ledger = h.setup.timeout, h.ledger
    token = context.enter(event, {"group": h.group, "attempt": d.attempt})
    started = time.perf_counter()
    try:
        if timeout is not None:
            ledger.watch(task, started + timeout, (d,))
        try:
            if h.observer.tracing():
                with h.observer.span(event):
                    await handler(event)
            else:
                await handler(event)
        except asyncio.CancelledError:
            if (late := h.timed_out((d,), task)) is None:
                raise
            raise late from None
        finally:
            if timeout is not None:
                ledger.unwatch(task)
    except Exception as exc:
        await h.settler.failed(d, exc)
        return
    finally:
        context.leave(token)
    h.succeeded(d, event, time.perf_counter() - started)
