"""An outage is not a failure: a handler whose dependency is down puts its event back without an attempt
counted, the channel pauses, and the event is handled once when the dependency is back; never dead-lettered."""

import asyncio
import time
from collections import Counter
from datetime import timedelta

from eventbus import (
    Backoff,
    Bus,
    BusUnavailable,
    Consumer,
    DeadLetters,
    Envelope,
    Outage,
    Subscription,
    context,
)
from eventbus.server import RedisServer
from eventbus.testing import samples
from eventbus.testing.waiting import eventually
from prometheus_client import REGISTRY
from redis.exceptions import BusyLoadingError
from redis.exceptions import ConnectionError as RedisConnectionError

CH = "message.received"
FAST = Backoff(initial=0.01, maximum=0.05)
QUICK_PAUSE = Backoff(initial=0.01, maximum=0.05)


def consumer(bus: Bus, group: str, *subs: Subscription) -> Consumer:
    return Consumer(bus, group, list(subs), block=timedelta(milliseconds=100))


async def publish(bus: Bus, n: int) -> list[str]:
    return [
        (await bus.emit(samples.message_received(i), company_id=samples.COMPANY)).event_id for i in range(n)
    ]


def outage_waits(group: str) -> float:
    return REGISTRY.get_sample_value("eventbus_outage_waits_total", {"type": CH, "group": group}) or 0.0


async def test_a_handler_in_an_outage_more_times_than_its_attempts_is_handled_once_and_never_dead_lettered(
    bus: Bus,
) -> None:
    down = {"left": 12}  # more outages than the three attempts allowed
    tries: Counter = Counter()
    effects: Counter = Counter()
    attempts_seen: list[int] = []
    errors = [Outage("evolution circuit open"), BusyLoadingError("loading"), RedisConnectionError("refused")]

    async def handler(event: Envelope) -> None:
        tries[event.id] += 1
        attempts_seen.append(context._current.get()[1]["attempt"])
        if down["left"] > 0:
            down["left"] -= 1
            raise errors[down["left"] % len(errors)]
        effects[event.id] += 1

    [event_id] = await publish(bus, 1)
    dead = DeadLetters(bus, CH, "patient")
    sub = Subscription(CH, handler, max_attempts=3, backoff=FAST, outage_backoff=QUICK_PAUSE)
    async with consumer(bus, "patient", sub).running():
        await eventually(lambda: asyncio.sleep(0, effects[event_id] == 1))
        await asyncio.sleep(0.2)
    assert tries[event_id] == 13 and effects == {event_id: 1}
    assert set(attempts_seen) == {1}  # no attempt was counted for an outage
    assert await dead.count() == 0
    assert outage_waits("patient") == 12


async def test_a_refused_publish_inside_a_handler_is_an_outage_and_real_failures_still_count(
    bus: Bus,
) -> None:
    calls: Counter = Counter()

    async def handler(event: Envelope) -> None:
        calls[event.id] += 1
        if calls[event.id] <= 6:
            raise BusUnavailable("cannot publish message.sent: Connection refused")
        raise RuntimeError("a bug")  # after the outage: a real failure, counted and dead-lettered

    [event_id] = await publish(bus, 1)
    dead = DeadLetters(bus, CH, "mixed")
    sub = Subscription(CH, handler, max_attempts=2, backoff=FAST, outage_backoff=QUICK_PAUSE)
    async with consumer(bus, "mixed", sub).running():
        await eventually(dead.count)
    [letter] = await dead.list()
    assert letter.reason == "max_attempts" and letter.attempts == 2 and "a bug" in letter.error
    assert calls[event_id] == 8  # six outages, then the two attempts allowed


async def test_an_outage_waits_its_retry_after_while_other_events_go_on(bus: Bus) -> None:
    """An Outage names one dependency (one company's Evolution instance): that event waits, the rest do not."""
    calls: list[tuple[str, float]] = []
    blocked, other = await publish(bus, 2)

    async def handler(event: Envelope) -> None:
        calls.append((event.id, time.monotonic()))
        if event.id == blocked and len([c for c in calls if c[0] == blocked]) == 1:
            raise Outage("instance vendas-01 unreachable", retry_after=0.5)

    sub = Subscription(CH, handler, concurrency=1, outage_backoff=QUICK_PAUSE)
    async with consumer(bus, "told", sub).running():
        await eventually(lambda: asyncio.sleep(0, len(calls) == 3))
    [(_, first), (second_id, second), (third_id, third)] = calls
    assert (second_id, third_id) == (other, blocked)
    assert second - first < 0.4 and third - first >= 0.5


async def test_an_outage_in_a_batch_puts_back_that_event_alone_without_an_attempt(bus: Bus) -> None:
    ids = await publish(bus, 8)
    unlucky = ids[3]
    tries: Counter = Counter()
    effects: Counter = Counter()

    async def handler(events) -> list[Exception | None]:
        outcomes: list[Exception | None] = []
        for event in events:
            tries[event.id] += 1
            if event.id == unlucky and tries[event.id] <= 10:
                outcomes.append(Outage("meta circuit open"))
            else:
                effects[event.id] += 1
                outcomes.append(None)
        return outcomes

    dead = DeadLetters(bus, CH, "batched")
    sub = Subscription(CH, batch_handler=handler, max_attempts=2, backoff=FAST, outage_backoff=QUICK_PAUSE)
    async with consumer(bus, "batched", sub).running():
        await eventually(lambda: asyncio.sleep(0, len(effects) == 8))
        await asyncio.sleep(0.2)
    assert effects == Counter({i: 1 for i in ids}) and tries[unlucky] == 11
    assert await dead.count() == 0


async def test_redis_killed_while_handlers_write_to_it_dead_letters_nothing(redis_server_factory) -> None:
    """The handler's own Redis commands fail while the server is down (connection refused, then loading):
    with one attempt allowed, every event is still handled once, none dead-lettered."""
    server: RedisServer = redis_server_factory(appendonly=True)
    effects: Counter = Counter()

    async with Bus.from_url(server.url, source="tests") as bus:
        ids = await publish(bus, 60)
        await asyncio.sleep(1.2)  # AOF everysec: the events are on disk before the kill

        async def handler(event: Envelope) -> None:
            await asyncio.sleep(0.05)  # some are in flight when the server dies
            await bus.redis.hincrby("effects", event.id, 1)  # idempotent enough: counted, checked below
            effects[event.id] += 1

        sub = Subscription(CH, handler, max_attempts=1, concurrency=4, outage_backoff=QUICK_PAUSE)
        dead = DeadLetters(bus, CH, "survivor")
        async with consumer(bus, "survivor", sub).running():
            await eventually(lambda: asyncio.sleep(0, len(effects) >= 5))
            server.kill()
            await asyncio.sleep(2.0)
            server.start()
            await eventually(lambda: asyncio.sleep(0, set(effects) == set(ids)), timeout=30)
        assert await dead.count() == 0
    assert set(effects.values()) == {1}
