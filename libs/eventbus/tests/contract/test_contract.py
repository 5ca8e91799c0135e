"""What every consumer of the bus must show, whichever way it consumes (``conftest.subscribe``: per event, in
batches), in the spirit of Watermill's universal pub/sub tests: at-least-once, once per side effect, ordering
per key, reclaim of a dead consumer's messages, retry with backoff, dead letter with a reason, replay, graceful
shutdown. The parts of the consumer (``eventbus.channel``) are proven against these; the deeper versions with
killed processes are ``test_crashes.py``, and with a resharded or failed-over cluster ``test_cluster.py``.
"""

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

from eventbus import Backoff, Bus, Consumer, DeadLetters, Envelope, PermanentFailure, Subscription
from eventbus.testing import samples
from eventbus.testing.waiting import eventually

Subscribe = Callable[..., Subscription]  # the fixture ``subscribe`` of conftest.py

FAST = Backoff(initial=0.01, maximum=0.05)
CH = "message.received"


def consumer(bus: Bus, group: str, *subs: Subscription, **kw) -> Consumer:
    kw.setdefault("block", timedelta(milliseconds=100))
    return Consumer(bus, group, list(subs), **kw)


async def publish_many(bus: Bus, n: int) -> list[str]:
    return [
        (await bus.emit(samples.message_received(i), company_id=samples.COMPANY)).event_id for i in range(n)
    ]


async def group_idle(bus: Bus, group: str) -> bool:
    [info] = [g for g in await bus.redis.xinfo_groups(bus.keys.stream(CH)) if g["name"].decode() == group]
    return info["pending"] == 0 and info["lag"] == 0


async def test_at_least_once_each_group_gets_every_event(bus: Bus, subscribe: Subscribe) -> None:
    seen: dict[str, Counter] = {"a": Counter(), "b": Counter()}

    def recorder(group: str):
        async def record(event: Envelope) -> None:
            seen[group][event.id] += 1

        return record

    ids = await publish_many(bus, 50)
    async with (
        consumer(bus, "a", subscribe(CH, recorder("a"))).running(),
        consumer(bus, "b", subscribe(CH, recorder("b"))).running(),
    ):
        await eventually(lambda: asyncio.sleep(0, all(len(c) == 50 for c in seen.values())))
    for counts in seen.values():
        assert set(counts) == set(ids) and set(counts.values()) == {1}


async def test_once_per_side_effect_the_same_event_delivered_again_is_not_handled_again(
    bus: Bus, subscribe: Subscribe
) -> None:
    effects = Counter()

    async def effect(event: Envelope) -> None:
        effects[event.id] += 1

    event = samples.envelope(samples.message_received())
    await bus.publish(event)
    async with consumer(bus, "once", subscribe(CH, effect)).running():
        await eventually(lambda: asyncio.sleep(0, effects[event.id] == 1))
        # a re-added copy of the same envelope (a producer retry, a manual replay) lands as a new entry
        stream = bus.keys.stream(CH)
        [(_, fields)] = await bus.redis.xrange(stream)
        await bus.redis.xadd(stream, fields)
        # and the group is rewound over it: a replay of the retained history
        await bus.redis.xgroup_setid(stream, "once", "0")
        await eventually(lambda: group_idle(bus, "once"))
    assert effects == {event.id: 1}


async def test_ordering_per_key_one_at_a_time_in_publish_order(bus: Bus, subscribe: Subscribe) -> None:
    running: Counter = Counter()
    overlaps = []
    order: dict[str, list[int]] = {}

    async def handle(event: Envelope) -> None:
        key = event.payload.lead_external_id
        running[key] += 1
        if running[key] > 1:
            overlaps.append(key)
        await asyncio.sleep(0.002)
        order.setdefault(key, []).append(event.payload.raw["seq"])
        running[key] -= 1

    for seq in range(40):
        for lead in ("+5511900000001", "+5511900000002", "+5511900000003"):
            payload = samples.message_received(seq, lead=lead).model_copy(update={"raw": {"seq": seq}})
            await bus.emit(payload, company_id=samples.COMPANY)
    sub = subscribe(CH, handle, ordering_key=("company_id", "payload.lead_external_id"), concurrency=8)
    async with consumer(bus, "ordered", sub).running():
        await eventually(lambda: asyncio.sleep(0, sum(map(len, order.values())) == 120))
    assert not overlaps
    assert all(seqs == list(range(40)) for seqs in order.values())


async def test_reclaim_a_dead_consumers_messages_are_taken_over_by_a_live_one(
    bus: Bus, subscribe: Subscribe
) -> None:
    effects = Counter()

    async def effect(event: Envelope) -> None:
        effects[event.id] += 1

    ids = await publish_many(bus, 6)
    stream = bus.keys.stream(CH)
    await bus.redis.xgroup_create(stream, "heirs", "0")
    # A consumer read them and died: pending under its name, never acknowledged, no lease renewed.
    await bus.redis.xreadgroup("heirs", "dead", {stream: ">"}, count=10)
    visibility = timedelta(milliseconds=300)
    async with consumer(
        bus, "heirs", subscribe(CH, effect), name="alive", visibility_timeout=visibility
    ).running():
        await eventually(lambda: asyncio.sleep(0, len(effects) == 6), timeout=20)
        await eventually(lambda: group_idle(bus, "heirs"))
    assert set(effects) == set(ids) and set(effects.values()) == {1}


async def test_retry_with_backoff_until_it_succeeds_with_one_side_effect(
    bus: Bus, subscribe: Subscribe
) -> None:
    tried: dict[str, list[float]] = {}
    effects = Counter()

    async def flaky(event: Envelope) -> None:
        tried.setdefault(event.id, []).append(time.monotonic())
        if len(tried[event.id]) <= 3:
            raise ConnectionError("upstream hiccup")
        effects[event.id] += 1

    [event_id] = await publish_many(bus, 1)
    backoff = Backoff(initial=0.05, multiplier=2.0, maximum=1.0)
    async with consumer(bus, "flaky", subscribe(CH, flaky, backoff=backoff)).running():
        await eventually(lambda: asyncio.sleep(0, effects[event_id] == 1))
        await eventually(lambda: group_idle(bus, "flaky"))
    assert len(tried[event_id]) == 4 and effects == {event_id: 1}
    gaps = [b - a for a, b in zip(tried[event_id], tried[event_id][1:], strict=False)]
    # attempt n waits initial·2^(n-1) times a jitter of 0.5–1
    assert all(gap >= 0.05 * 2**n * 0.5 for n, gap in enumerate(gaps)), gaps
    assert await DeadLetters(bus, CH, "flaky").count() == 0


async def test_dead_letter_with_a_reason_after_the_last_attempt_then_replay_handles_it_once(
    bus: Bus, subscribe: Subscribe
) -> None:
    attempts, effects = Counter(), Counter()
    fixed = False

    async def handler(event: Envelope) -> None:
        attempts[event.id] += 1
        if not fixed:
            raise RuntimeError("template missing")
        effects[event.id] += 1

    [event_id] = await publish_many(bus, 1)
    dead = DeadLetters(bus, CH, "broken")
    async with consumer(bus, "broken", subscribe(CH, handler, backoff=FAST)).running():
        await eventually(dead.count)
        [letter] = await dead.list()
        assert letter.event_id == event_id
        assert letter.reason == "max_attempts" and letter.attempts == 5
        assert "RuntimeError: template missing" in letter.error
        assert attempts[event_id] == 5 and not effects
        fixed = True
        await dead.replay(letter.id)
        await eventually(lambda: asyncio.sleep(0, effects[event_id] == 1))
        await dead.replay_all()  # nothing left to replay
        await eventually(lambda: group_idle(bus, "broken"))
    assert effects == {event_id: 1} and await dead.count() == 0


async def test_dead_letter_at_once_for_a_permanent_failure_and_the_others_go_on(
    bus: Bus, subscribe: Subscribe
) -> None:
    effects = Counter()
    ids = await publish_many(bus, 4)
    refused = ids[1]

    async def handler(event: Envelope) -> None:
        if event.id == refused:
            raise PermanentFailure("400 from upstream")
        effects[event.id] += 1

    dead = DeadLetters(bus, CH, "strict")
    async with consumer(bus, "strict", subscribe(CH, handler, backoff=FAST)).running():
        [letter] = await eventually(dead.list)
        await eventually(lambda: group_idle(bus, "strict"))
    assert letter.event_id == refused
    assert letter.reason == "permanent_failure" and letter.attempts == 1, "permanent errors skip retries"
    assert set(effects) == set(ids) - {refused}


async def test_graceful_shutdown_hands_unfinished_work_to_a_live_replica(
    bus: Bus, subscribe: Subscribe
) -> None:
    started, effects = asyncio.Event(), Counter()
    release = asyncio.Event()

    async def slow(event: Envelope) -> None:
        started.set()
        await release.wait()
        effects[event.id] += 1

    async def quick(event: Envelope) -> None:
        effects[event.id] += 1

    ids = await publish_many(bus, 5)
    first = consumer(
        bus,
        "handoff",
        subscribe(CH, slow, concurrency=1),
        name="first",
        shutdown_grace=timedelta(milliseconds=50),
        visibility_timeout=timedelta(seconds=1),
    )
    async with first.running():
        await started.wait()
    # the first consumer stopped while holding a running entry and queued ones: all released
    assert not effects
    second = consumer(
        bus, "handoff", subscribe(CH, quick), name="second", visibility_timeout=timedelta(seconds=1)
    )
    async with second.running():
        await eventually(lambda: asyncio.sleep(0, len(effects) == 5), timeout=20)
    assert set(effects) == set(ids) and set(effects.values()) == {1}


async def test_graceful_shutdown_lets_a_running_handler_finish_and_acknowledges_it(
    bus: Bus, subscribe: Subscribe
) -> None:
    started, effects = asyncio.Event(), Counter()

    async def brief(event: Envelope) -> None:
        started.set()
        await asyncio.sleep(0.2)
        effects[event.id] += 1

    [event_id] = await publish_many(bus, 1)
    async with consumer(bus, "grace", subscribe(CH, brief), shutdown_grace=timedelta(seconds=5)).running():
        await started.wait()
    assert effects == {event_id: 1}, "finished within the grace period"
    assert await group_idle(bus, "grace"), "and acknowledged before the consumer stopped"
