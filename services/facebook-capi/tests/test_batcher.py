"""The batcher: one request per pixel for events that arrive together, each submitter gets its own result."""

import asyncio

import pytest
from facebook_capi.batcher import Batcher


class Recorder:
    def __init__(self, fail: set[str] = frozenset()) -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self.fail = fail

    async def deliver(self, destination: str, events: list[dict]) -> list[BaseException | None]:
        self.calls.append((destination, [e["id"] for e in events]))
        return [ValueError(e["id"]) if e["id"] in self.fail else None for e in events]


async def test_events_arriving_together_leave_in_one_request_per_destination() -> None:
    sink = Recorder()
    batcher = Batcher(sink.deliver, max_events=1000, max_delay=0.01)
    await asyncio.gather(
        *(batcher.submit("pixel-a", {"id": f"a{i}"}) for i in range(5)),
        *(batcher.submit("pixel-b", {"id": f"b{i}"}) for i in range(3)),
    )
    assert sorted(sink.calls) == [
        ("pixel-a", ["a0", "a1", "a2", "a3", "a4"]),
        ("pixel-b", ["b0", "b1", "b2"]),
    ]


async def test_a_full_batch_leaves_at_once_without_waiting_for_the_delay() -> None:
    sink = Recorder()
    batcher = Batcher(sink.deliver, max_events=3, max_delay=60)
    await asyncio.wait_for(
        asyncio.gather(*(batcher.submit("p", {"id": str(i)}) for i in range(6))), timeout=2
    )
    assert [ids for _, ids in sink.calls] == [["0", "1", "2"], ["3", "4", "5"]]


async def test_each_submitter_gets_its_own_events_result() -> None:
    batcher = Batcher(Recorder(fail={"bad"}).deliver, max_events=10, max_delay=0.01)
    results = await asyncio.gather(
        batcher.submit("p", {"id": "ok"}), batcher.submit("p", {"id": "bad"}), return_exceptions=True
    )
    assert results[0] is None
    assert isinstance(results[1], ValueError) and str(results[1]) == "bad"


async def test_a_crashing_delivery_fails_every_event_of_the_batch() -> None:
    async def crash(destination, events):
        raise RuntimeError("boom")

    batcher = Batcher(crash, max_events=10, max_delay=0.01)
    results = await asyncio.gather(
        *(batcher.submit("p", {"id": i}) for i in range(2)), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)


async def test_closing_sends_what_is_still_waiting() -> None:
    sink = Recorder()
    batcher = Batcher(sink.deliver, max_events=10, max_delay=60)
    async with batcher.running():
        waiting = asyncio.create_task(batcher.submit("p", {"id": "late"}))
        await asyncio.sleep(0)
    await asyncio.wait_for(waiting, timeout=1)
    assert sink.calls == [("p", ["late"])]


@pytest.mark.parametrize("size", [1, 2, 7])
async def test_batch_size_one_means_one_request_per_event(size: int) -> None:
    sink = Recorder()
    batcher = Batcher(sink.deliver, max_events=size, max_delay=0.01)
    await asyncio.gather(*(batcher.submit("p", {"id": str(i)}) for i in range(7)))
    assert all(len(ids) <= size for _, ids in sink.calls)
    assert sum(len(ids) for _, ids in sink.calls) == 7
