"""Replays respect the processed-id window: events older than what a group remembers having processed may
have been handled already, so replaying them is refused unless forced, and a forced replay is logged."""

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import ulid_transform
from eventbus import (
    Bus,
    BusSettings,
    Consumer,
    DeadLetters,
    Envelope,
    PermanentFailure,
    ReplayOutsideWindow,
    Subscription,
    processed_window_start,
    replay_since,
)
from eventbus.testing import samples
from eventbus.testing.waiting import eventually
from structlog.testing import capture_logs

CH = "message.received"


def quick(bus: Bus, group: str, handler) -> Consumer:
    return Consumer(bus, group, [Subscription(CH, handler)], block=timedelta(milliseconds=100))


def old_event(days: float, i: int = 0) -> Envelope:
    """An event made ``days`` ago (its id is a ULID of that time), as one dead-lettered back then is."""
    event = Envelope.new(samples.message_received(i), source="tests", company_id=samples.COMPANY)
    return event.model_copy(update={"id": f"evt_{ulid_transform.ulid_at_time(time.time() - days * 86400)}"})


async def test_a_replay_since_before_the_processed_window_is_refused_unless_forced_and_then_logged(
    bus: Bus,
) -> None:
    effects: Counter = Counter()

    async def effect(event: Envelope) -> None:
        effects[event.id] += 1

    await bus.emit(samples.message_received(), company_id=samples.COMPANY)
    async with quick(bus, "proj", effect).running():
        await eventually(lambda: asyncio.sleep(0, len(effects) == 1))
        nine_days_ago = datetime.now(UTC) - timedelta(days=9)  # processed_retention is 8 days
        with pytest.raises(ReplayOutsideWindow, match="force"):
            await replay_since(bus, CH, "proj", nine_days_ago)
        await replay_since(bus, CH, "proj", datetime.now(UTC) - timedelta(days=7))  # inside: allowed
        with capture_logs() as logs:
            await replay_since(bus, CH, "proj", nine_days_ago, force=True)
        await asyncio.sleep(0.3)
    assert [entry["event"] for entry in logs] == ["replay_forced"]
    assert logs[0]["group"] == "proj" and logs[0]["log_level"] == "warning"
    assert set(effects.values()) == {1}  # still processed: skipped


async def test_the_window_begins_at_the_oldest_mark_kept_once_the_count_bound_trims_them(
    redis_url: str, bus_settings: BusSettings
) -> None:
    settings = bus_settings.model_copy(update={"stream_maxlen": 5, "processed_maxlen": 5})
    async with Bus.from_url(redis_url, source="tests", settings=settings) as bus:
        handled: list[float] = []

        async def effect(event: Envelope) -> None:
            handled.append(time.time())

        started = datetime.now(UTC)
        async with Consumer(
            bus, "counted", [Subscription(CH, effect)], block=timedelta(milliseconds=50)
        ).running():
            for i in range(12):  # one at a time: each is handled (and marked) before the next is published
                await bus.emit(samples.message_received(i), company_id=samples.COMPANY)
                await eventually(lambda n=i + 1: asyncio.sleep(0, len(handled) == n))
            await asyncio.sleep(0.2)
        start = await processed_window_start(bus, CH, "counted")
        assert start > datetime.fromtimestamp(handled[0], UTC)  # the first marks were dropped by count
        with pytest.raises(ReplayOutsideWindow):
            await replay_since(bus, CH, "counted", started)


async def test_a_dead_letter_older_than_the_window_is_refused_and_forced_replays_it_once_logged(
    bus: Bus,
) -> None:
    fixed = False
    effects: Counter = Counter()

    async def handler(event: Envelope) -> None:
        if not fixed:
            raise PermanentFailure("template missing")
        effects[event.id] += 1

    old, recent = old_event(days=9, i=1), old_event(days=1, i=2)
    await bus.publish(old)
    await bus.publish(recent)
    dead = DeadLetters(bus, CH, "broken")
    async with quick(bus, "broken", handler).running():
        while await dead.count() < 2:
            await asyncio.sleep(0.02)
        letters = {letter.event_id: letter for letter in await dead.list()}
        fixed = True
        with pytest.raises(ReplayOutsideWindow, match="--force"):
            await dead.replay(letters[old.id].id)
        with pytest.raises(ReplayOutsideWindow):
            await dead.replay_all()  # one is too old: nothing is replayed
        assert await dead.count() == 2
        await dead.replay(letters[recent.id].id)  # inside the window
        with capture_logs() as logs:
            await dead.replay(letters[old.id].id, force=True)
        await eventually(lambda: asyncio.sleep(0, len(effects) == 2))
    assert effects == {old.id: 1, recent.id: 1} and await dead.count() == 0
    [forced] = [entry for entry in logs if entry["event"] == "replay_forced"]
    assert forced["what"] == f"dead letter {letters[old.id].id}" and forced["group"] == "broken"
