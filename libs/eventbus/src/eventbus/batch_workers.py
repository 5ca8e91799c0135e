"""The batch worker of one channel (a subscription with ``batch_handler``): hand what is ready to the
handler, up to ``max_batch`` events per call and ``concurrency`` in flight, then settle each event by its own
outcome: handled ones in the ledger, failed ones through the settler (retry or dead letter, one by one)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from eventbus import context
from eventbus.errors import InvalidEvent
from eventbus.ledger import Delivery
from eventbus.workers import Handling


async def work_batches(h: Handling) -> None:
    """Each call runs in a task of its own, so a slow call (a language model's) does not hold back the next,
    and many small batches (events trickling in) fill the budget as a few large ones do."""
    ledger, sub = h.ledger, h.setup.sub
    budget = asyncio.Semaphore(sub.concurrency)
    calls: set[asyncio.Task[None]] = set()
    try:
        while True:
            await budget.acquire()
            batch = [await ledger.queue.get()]
            if ledger.resume_at:
                await h.settler.until_resumed()
            while len(batch) < sub.max_batch and not ledger.queue.empty() and not budget.locked():
                await budget.acquire()  # free: returns at once
                batch.append(ledger.queue.get_nowait())  # what is ready now: a batch never waits to fill
            ready = [d for d in batch if ledger.current(d)]
            for _ in range(len(batch) - len(ready)):
                budget.release()
            if not ready:
                continue
            ledger.start(ready)
            call = asyncio.create_task(_call(h, ready, budget))
            calls.add(call)
            call.add_done_callback(calls.discard)
    finally:
        for call in calls:
            call.cancel()
        await asyncio.gather(*calls, return_exceptions=True)


async def _call(h: Handling, batch: list[Delivery], budget: asyncio.Semaphore) -> None:
    try:
        await _handle_batch(h, batch)
    except Exception:
        h.settler.stranded(batch)
    finally:
        h.ledger.finish(batch)
        for _ in batch:
            budget.release()


async def _handle_batch(h: Handling, batch: list[Delivery]) -> None:
    ready: list[Delivery] = []
    invalid: list[tuple[Delivery, InvalidEvent]] = []
    for d in batch:
        if d.event is None:
            try:
                d.event = h.parse(d)
            except InvalidEvent as exc:
                invalid.append((d, exc))
                continue
        ready.append(d)
    if ready:
        await _handle_together(h, ready)
    for d, reason in invalid:  # after the others: their acknowledgements need not wait on these writes
        await h.settler.dead_letter(d, reason)


async def _handle_together(h: Handling, ready: list[Delivery]) -> None:
    started = time.perf_counter()
    outcomes: Sequence[Exception | None]
    events = [d.event for d in ready if d.event is not None]
    handler = h.setup.sub.batch_handler
    assert handler is not None  # a batch worker runs for a batch subscription only
    batch = context.enter_batch(events)  # what the handler publishes inherits its cause's request id
    with h.observer.batch_spans(events) as spans:
        try:
            outcomes = await h.run(ready, handler(events))
            if len(outcomes) != len(ready):
                raise TypeError(f"batch handler returned {len(outcomes)} outcomes for {len(ready)} events")
        except Exception as exc:
            outcomes = [exc] * len(ready)
        finally:
            context.leave_batch(batch)
        for event, outcome in zip(events, outcomes, strict=True):
            if outcome is not None:
                h.observer.span_failed(spans, event.id, outcome)
    elapsed = time.perf_counter() - started  # each event waited for the whole call
    failures: list[tuple[Delivery, Exception]] = []
    for d, outcome in zip(ready, outcomes, strict=True):
        if outcome is None:
            assert d.event is not None
            h.succeeded(d, d.event, elapsed)
        else:
            failures.append((d, outcome))
    # After every success is settled: retries and dead letters take round trips.
    for d, failure in failures:
        assert d.event is not None
        token = context.enter(d.event, {"group": h.group, "attempt": d.attempt})
        try:
            await h.settler.failed(d, failure)
        finally:
            context.leave(token)
