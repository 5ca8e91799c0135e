"""Batch handlers: a subscription whose handler takes the events that are ready together, and says what
became of each one."""

import asyncio
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta

import pytest
from eventbus import Backoff, Bus, Consumer, DeadLetters, Envelope, PermanentFailure, Subscription
from eventbus.testing import samples
from eventbus.testing.waiting import eventually
from redis.exceptions import ResponseError

FAST = Backoff(initial=0.01, maximum=0.05)
CH = "message.received"
BY_LEAD = ("company_id", "payload.lead_external_id")


def consumer(bus: Bus, group: str, *subs: Subscription, **kw) -> Consumer:
    kw.setdefault("block", timedelta(milliseconds=100))
    return Consumer(bus, group, list(subs), **kw)


async def publish(bus: Bus, n: int, *, leads: int | None = None) -> list[str]:
    """``n`` events, of ``leads`` leads taking turns (one lead each when None)."""
    ids = []
    for i in range(n):
        lead = f"+55119{(i % leads if leads else i):08d}"
        payload = samples.message_received(i, lead=lead).model_copy(update={"raw": {"seq": i}})
        ids.append((await bus.emit(payload, company_id=samples.COMPANY)).event_id)
    return ids


async def idle(bus: Bus, group: str) -> bool:
    """The group has read every entry and has none pending."""
    try:
        [info] = [g for g in await bus.redis.xinfo_groups(bus.keys.stream(CH)) if g["name"].decode() == group]
    except (ResponseError, ValueError):
        return False  # the consumer has not made its group yet
    return info["pending"] == 0 and info["lag"] == 0


async def test_ready_events_come_together_and_each_is_handled_once(bus: Bus) -> None:
    batches: list[list[str]] = []

    async def handle(events: Sequence[Envelope]) -> list[Exception | None]:
        batches.append([e.id for e in events])
        await asyncio.sleep(0.005)  # a round trip: meanwhile the next events become ready
        return [None] * len(events)

    ids = await publish(bus, 300)
    sub = Subscription(CH, batch_handler=handle, max_batch=16, concurrency=32)
    async with consumer(bus, "batched", sub).running():
        await eventually(lambda: asyncio.sleep(0, sum(map(len, batches)) >= 300))
        await eventually(lambda: idle(bus, "batched"))
    handled = Counter(i for batch in batches for i in batch)
    assert set(handled) == set(ids) and set(handled.values()) == {1}
    assert max(map(len, batches)) == 16, "full batches under load"
    assert len(batches) < 300 / 4


async def test_a_lone_event_is_handled_at_once_not_held_for_a_fuller_batch(bus: Bus) -> None:
    batches: list[int] = []

    async def handle(events: Sequence[Envelope]) -> list[Exception | None]:
        batches.append(len(events))
        return [None] * len(events)

    sub = Subscription(CH, batch_handler=handle, max_batch=64)
    async with consumer(bus, "lone", sub).running():
        await eventually(lambda: idle(bus, "lone"))
        await publish(bus, 1)
        await eventually(lambda: asyncio.sleep(0, batches == [1]), timeout=2)


async def test_a_slow_call_does_not_hold_back_the_events_that_come_after_it(bus: Bus) -> None:
    # A language model's call takes seconds: events that arrive meanwhile go to calls of their own.
    running, release = asyncio.Event(), asyncio.Event()
    handled: list[str] = []

    async def handle(events: Sequence[Envelope]) -> list[Exception | None]:
        if any(e.payload.body == "slow" for e in events):
            running.set()
            await release.wait()
        handled.extend(e.id for e in events)
        return [None] * len(events)

    sub = Subscription(CH, batch_handler=handle, max_batch=64, concurrency=64)
    async with consumer(bus, "slow", sub).running():
        slow = (await bus.emit(samples.message_received(body="slow"), company_id=samples.COMPANY)).event_id
        await asyncio.wait_for(running.wait(), 15)  # its call is running, and waits
        later = await publish(bus, 3)
        await eventually(lambda: asyncio.sleep(0, len(handled) == 3))
        assert handled == later  # while the slow one still runs
        release.set()
        await eventually(lambda: asyncio.sleep(0, slow in handled))


async def test_events_in_flight_across_calls_stay_within_the_concurrency(bus: Bus) -> None:
    in_flight, most, calls = 0, 0, 0

    async def handle(events: Sequence[Envelope]) -> list[Exception | None]:
        nonlocal in_flight, most, calls
        calls += 1
        in_flight += len(events)
        most = max(most, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= len(events)
        return [None] * len(events)

    await publish(bus, 60)
    sub = Subscription(CH, batch_handler=handle, max_batch=4, concurrency=10)
    async with consumer(bus, "bounded", sub).running():
        await eventually(lambda: idle(bus, "bounded"))
    assert most == 10, "the budget is filled by several calls at once, never exceeded"
    assert calls >= 60 / 4


async def test_a_batch_never_holds_two_events_of_one_ordering_key_and_each_key_keeps_its_order(
    bus: Bus,
) -> None:
    order: dict[str, list[int]] = {}
    shared_keys = []

    async def handle(events: Sequence[Envelope]) -> list[Exception | None]:
        keys = [e.payload.lead_external_id for e in events]
        if len(set(keys)) != len(keys):
            shared_keys.append(keys)
        await asyncio.sleep(0.002)
        for event in events:
            order.setdefault(event.payload.lead_external_id, []).append(event.payload.raw["seq"])
        return [None] * len(events)

    await publish(bus, 120, leads=3)
    sub = Subscription(CH, batch_handler=handle, ordering_key=BY_LEAD, max_batch=8, concurrency=16)
    async with consumer(bus, "ordered", sub).running():
        await eventually(lambda: asyncio.sleep(0, sum(map(len, order.values())) == 120))
    assert not shared_keys
    assert all(seqs == sorted(seqs) and len(seqs) == 40 for seqs in order.values())


async def test_an_event_that_failed_in_a_batch_is_retried_without_running_the_others_again(bus: Bus) -> None:
    calls: Counter = Counter()
    ids = await publish(bus, 20)
    flaky = ids[7]

    async def handle(events: Sequence[Envelope]) -> list[Exception | None]:
        calls.update(e.id for e in events)
        return [RuntimeError("upstream 503") if e.id == flaky and calls[e.id] == 1 else None for e in events]

    sub = Subscription(CH, batch_handler=handle, backoff=FAST)
    async with consumer(bus, "retry", sub).running():
        await eventually(lambda: asyncio.sleep(0, calls[flaky] == 2))
        await eventually(lambda: idle(bus, "retry"))
    assert calls == {**dict.fromkeys(ids, 1), flaky: 2}


async def test_a_permanent_failure_in_a_batch_dead_letters_that_event_alone(bus: Bus) -> None:
    calls: Counter = Counter()
    ids = await publish(bus, 10)
    bad = ids[3]

    async def handle(events: Sequence[Envelope]) -> list[Exception | None]:
        calls.update(e.id for e in events)
        return [PermanentFailure("lead refused") if e.id == bad else None for e in events]

    sub = Subscription(CH, batch_handler=handle, backoff=FAST)
    async with consumer(bus, "permanent", sub).running():
        await eventually(lambda: idle(bus, "permanent"))
    [letter] = await DeadLetters(bus, CH, "permanent").list()
    assert letter.event_id == bad and letter.reason == "permanent_failure"
    assert calls == dict.fromkeys(ids, 1)


async def test_a_batch_handler_that_raises_fails_every_event_of_its_batch_and_they_are_retried(
    bus: Bus,
) -> None:
    calls: Counter = Counter()
    first_batch: list[str] = []

    async def handle(events: Sequence[Envelope]) -> list[Exception | None]:
        calls.update(e.id for e in events)
        if not first_batch:
            first_batch.extend(e.id for e in events)
            raise ConnectionError("redis went away mid-batch")
        return [None] * len(events)

    ids = await publish(bus, 30)
    sub = Subscription(CH, batch_handler=handle, backoff=FAST)
    async with consumer(bus, "raises", sub).running():
        await eventually(lambda: asyncio.sleep(0, set(calls) == set(ids)))
        await eventually(lambda: idle(bus, "raises"))
    assert first_batch
    assert calls == {i: 2 if i in first_batch else 1 for i in ids}


async def test_a_batch_handler_giving_the_wrong_number_of_outcomes_dead_letters_its_events(bus: Bus) -> None:
    async def handle(events: Sequence[Envelope]) -> list[Exception | None]:
        return []  # a bug: one outcome per event is the contract

    [event_id] = await publish(bus, 1)
    sub = Subscription(CH, batch_handler=handle, backoff=FAST, max_attempts=2)
    async with consumer(bus, "miscounted", sub).running():
        await eventually(lambda: idle(bus, "miscounted"))
    [letter] = await DeadLetters(bus, CH, "miscounted").list()
    assert letter.event_id == event_id and letter.reason == "max_attempts"
    assert "0 outcomes for 1 event" in letter.error


async def test_a_hung_batch_times_out_and_its_events_are_retried(bus: Bus) -> None:
    calls: Counter = Counter()

    async def hangs_once(events: Sequence[Envelope]) -> list[Exception | None]:
        calls.update(e.id for e in events)
        if len(calls) == sum(calls.values()):  # the first call
            await asyncio.Event().wait()  # never set: an upstream that never answers
        return [None] * len(events)

    ids = await publish(bus, 5)
    sub = Subscription(CH, batch_handler=hangs_once, backoff=FAST, timeout=timedelta(milliseconds=100))
    async with consumer(bus, "hung", sub).running():
        await eventually(lambda: asyncio.sleep(0, set(calls) == set(ids)))
        await eventually(lambda: idle(bus, "hung"))
    assert sum(calls.values()) > len(ids), "the hung batch's events ran again"
    assert set(calls.values()) <= {1, 2}


async def test_garbage_in_a_batch_is_dead_lettered_and_the_rest_handled(bus: Bus) -> None:
    handled: list[str] = []

    async def handle(events: Sequence[Envelope]) -> list[Exception | None]:
        handled.extend(e.id for e in events)
        return [None] * len(events)

    ids = await publish(bus, 3)
    await bus.redis.xadd(bus.keys.stream(CH), {"i": "evt_garbage", "t": CH, "v": "1", "e": b"{not json"})
    ids += await publish(bus, 3)
    sub = Subscription(CH, batch_handler=handle)
    async with consumer(bus, "garbage", sub).running():
        await eventually(lambda: idle(bus, "garbage"))
    [letter] = await DeadLetters(bus, CH, "garbage").list()
    assert letter.reason == "invalid_event"
    assert sorted(handled) == sorted(ids)


def test_a_subscription_takes_a_handler_or_a_batch_handler_exactly_one() -> None:
    async def one(event: Envelope) -> None: ...

    async def many(events: Sequence[Envelope]) -> list[Exception | None]:
        return [None] * len(events)

    with pytest.raises(ValueError, match="exactly one"):
        Subscription(CH)
    with pytest.raises(ValueError, match="exactly one"):
        Subscription(CH, one, batch_handler=many)
    with pytest.raises(ValueError, match="at least 1"):
        Subscription(CH, batch_handler=many, max_batch=0)


@pytest.mark.parametrize("batched", [False, True], ids=["per-event", "batched"])
async def test_a_bug_after_the_handler_does_not_strand_the_event(bus: Bus, monkeypatch, batched) -> None:
    # The retry bookkeeping itself fails (a bug of ours, here in XCLAIM): the event is neither held forever
    # with its lease renewed nor the worker lost; it is tried again and, as the bug persists, dead-lettered.
    calls: Counter = Counter()

    async def fails(event: Envelope) -> None:
        calls[event.id] += 1
        raise RuntimeError("upstream 503")

    async def fails_in_batch(events: Sequence[Envelope]) -> list[Exception | None]:
        calls.update(e.id for e in events)
        return [RuntimeError("upstream 503")] * len(events)

    xclaim = bus.redis.xclaim

    async def broken_xclaim(*args, **options):
        if options.get("retrycount") is not None:
            raise AttributeError("a bug in the retry bookkeeping")
        return await xclaim(*args, **options)

    monkeypatch.setattr(bus.redis, "xclaim", broken_xclaim)
    handler = {"batch_handler": fails_in_batch} if batched else {"handler": fails}
    sub = Subscription(CH, **handler, backoff=FAST, max_attempts=3)
    [event_id] = await publish(bus, 1)
    async with consumer(bus, "stranded", sub).running():
        await eventually(lambda: idle(bus, "stranded"))
    [letter] = await DeadLetters(bus, CH, "stranded").list()
    assert letter.event_id == event_id and letter.reason == "max_attempts"
    assert calls[event_id] == 3
