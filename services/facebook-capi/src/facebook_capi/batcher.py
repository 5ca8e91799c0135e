"""Per-destination batching: events for one pixel wait a little for company, leave together, and each
submitter learns its own event's fate.

Written by hand (no library batches asyncio awaitables with per-item results): a handler awaits `submit`,
which returns when Meta accepted its event and raises that event's error otherwise, so the consumer still
acknowledges an event only after it was delivered. A batch leaves when it reaches `max_events` or
`max_delay` seconds after its first event, whichever comes first.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Generic, TypeVar

import structlog

log = structlog.get_logger("facebook_capi.batcher")

D = TypeVar("D", bound=Hashable)
Deliver = Callable[[D, list[dict[str, Any]]], Awaitable[Sequence[BaseException | None]]]


class Batcher(Generic[D]):
    """``deliver(destination, events)`` returns one result per event, in order: None for delivered, else the
    error to raise in that event's submitter."""

    def __init__(self, deliver: Deliver[D], *, max_events: int, max_delay: float) -> None:
        self._deliver, self._max_events, self._max_delay = deliver, max_events, max_delay
        self._open: dict[D, list[tuple[dict[str, Any], asyncio.Future[None]]]] = {}
        self._timers: dict[D, asyncio.TimerHandle] = {}
        self._flights: set[asyncio.Task[None]] = set()

    async def submit(self, destination: D, event: dict[str, Any]) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        batch = self._open.setdefault(destination, [])
        batch.append((event, future))
        if len(batch) >= self._max_events:
            self._flush(destination)
        elif len(batch) == 1:
            self._timers[destination] = asyncio.get_running_loop().call_later(
                self._max_delay, self._flush, destination
            )
        # A cancelled submitter (shutdown) cancels only its future: the batch still goes out for the others.
        await future

    def _flush(self, destination: D) -> None:
        timer = self._timers.pop(destination, None)
        if timer is not None:
            timer.cancel()
        batch = self._open.pop(destination, [])
        if batch:
            flight = asyncio.create_task(self._send(destination, batch))
            self._flights.add(flight)
            flight.add_done_callback(self._flights.discard)

    async def _send(self, destination: D, batch: list[tuple[dict[str, Any], asyncio.Future[None]]]) -> None:
        results: Sequence[BaseException | None]
        try:
            results = await self._deliver(destination, [event for event, _ in batch])
        except Exception as exc:
            log.warning("capi_batch_failed", error=repr(exc)[:300], events=len(batch))
            results = [exc] * len(batch)
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if result is None:
                future.set_result(None)
            else:
                future.set_exception(result)

    async def aclose(self) -> None:
        """Send what is waiting now and wait for every batch in flight."""
        for destination in list(self._open):
            self._flush(destination)
        if self._flights:
            await asyncio.gather(*self._flights, return_exceptions=True)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Batcher[D]]:
        try:
            yield self
        finally:
            await self.aclose()
