"""The bus contract suite runs every rule once per way of consuming: a per-event handler and a batch handler
(each event's outcome reported by ``BatchOutcomes``). On one server by default, on a cluster with
``WB_TEST_REDIS=cluster`` (``make test-cluster``)."""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest
from eventbus import BatchOutcomes, Envelope, Subscription

Handle = Callable[[Envelope[Any]], Awaitable[None]]
Subscribe = Callable[..., Subscription]


def batched(handle: Handle) -> Callable[[Sequence[Envelope[Any]]], Awaitable[BatchOutcomes[Envelope[Any]]]]:
    """``handle`` as a batch handler: the batch's events at once, each failure that event's outcome."""

    async def handle_batch(events: Sequence[Envelope[Any]]) -> BatchOutcomes[Envelope[Any]]:
        outcomes = BatchOutcomes(events)
        results = await asyncio.gather(*(handle(event) for event in events), return_exceptions=True)
        outcomes.collect(range(len(events)), [r if isinstance(r, Exception) else None for r in results])
        return outcomes

    return handle_batch


@pytest.fixture(params=["per-event", "batch"])
def subscribe(request: pytest.FixtureRequest) -> Subscribe:
    """``subscribe(channel, handle, **options)``: the subscription of the way of consuming under test."""

    def make(channel: str, handle: Handle, **options: Any) -> Subscription:
        if request.param == "batch":
            return Subscription(channel, batch_handler=batched(handle), **options)
        return Subscription(channel, handle, **options)

    return make
