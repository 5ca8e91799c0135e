"""Where a group's processed marks live (``eventbus.idempotency``): a ULID id handled near its own time in the
SET of its 32.8-second bucket, anything else in the sorted set, which admission still reads; how buckets are
trimmed (by age, by count, whole and oldest first) and forgotten. Runs on one server and on the cluster."""

import asyncio
import re
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import ulid_transform
from eventbus import (
    Bus,
    BusSettings,
    Consumer,
    Envelope,
    ReplayOutsideWindow,
    Subscription,
    forget_processed,
    processed_window_start,
    replay_since,
)
from eventbus.idempotency import BUCKET_MS, BUCKET_SKEW_MS
from eventbus.testing import samples
from eventbus.testing.waiting import eventually

CH = "message.received"
GROUP = "proj"
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def event_made(seconds_ago: float, i: int = 0, *, bare: bool = False) -> Envelope:
    """An event whose id is a ULID of ``seconds_ago`` (``evt_<ULID>``, or the bare ULID another producer
    may send)."""
    event = Envelope.new(samples.message_received(i), source="tests", company_id=samples.COMPANY)
    made = ulid_transform.ulid_at_time(time.time() - seconds_ago)
    return event.model_copy(update={"id": made if bare else f"evt_{made}"})


def event_in_bucket(buckets_ago: int, i: int) -> Envelope:
    """An event whose id was made in the bucket that began ``buckets_ago`` buckets before the current one."""
    start = (int(time.time() * 1000) // BUCKET_MS - buckets_ago) * BUCKET_MS
    return event_made(seconds_ago=time.time() - (start + 1000 + 100 * i) / 1000, i=i)


def bucket(event_id: str) -> str:
    return event_id.removeprefix("evt_")[:7]


def bucket_start(name: str) -> int:
    value = 0
    for char in name:
        value = value * 32 + CROCKFORD.index(char)
    return value * BUCKET_MS


class Marks:
    """What the group's processed keys hold, read with the admin's client."""

    def __init__(self, bus: Bus, group: str = GROUP) -> None:
        self.bus, self.group, self.keys = bus, group, bus.keys

    async def in_bucket(self, event_id: str) -> bool:
        key = self.keys.processed_bucket(CH, self.group, bucket(event_id))
        return bool(await self.bus.redis.sismember(key, event_id))

    async def in_sorted_set(self, event_id: str) -> bool:
        return await self.bus.redis.zscore(self.keys.processed(CH, self.group), event_id) is not None

    async def buckets(self) -> dict[str, int]:
        index = self.keys.processed_index(CH, self.group)
        return {
            name.decode(): int(score)
            for name, score in await self.bus.redis.zrange(index, 0, -1, withscores=True)
        }

    async def count(self) -> int:
        return int(await self.bus.redis.get(self.keys.processed_count(CH, self.group)) or 0)

    async def sizes(self) -> dict[str, int]:
        return {
            name: int(await self.bus.redis.scard(self.keys.processed_bucket(CH, self.group, name)))
            for name in await self.buckets()
        }


async def handled_by(
    bus: Bus, events: list[Envelope], *, group: str = GROUP, one_by_one: bool = False, skipped: int = 0
) -> Counter:
    """Publish ``events`` and run the group until it has handled each distinct one (but ``skipped``) and
    acknowledged every entry; the handler counts."""
    effects: Counter = Counter()

    async def effect(event: Envelope) -> None:
        effects[event.id] += 1

    consumer = Consumer(bus, group, [Subscription(CH, effect)], block=timedelta(milliseconds=50))
    async with consumer.running():
        for n, event in enumerate(events, 1):
            await bus.publish(event)
            if one_by_one:  # each handled (and its mark settled) before the next is published
                await eventually(lambda n=n: asyncio.sleep(0, len(effects) == n))
        distinct = len({e.id for e in events}) - skipped
        await eventually(lambda: asyncio.sleep(0, len(effects) == distinct))
        await eventually(lambda: _settled(bus, group))
    return effects


async def _settled(bus: Bus, group: str) -> bool:
    [info] = [g for g in await bus.redis.xinfo_groups(bus.keys.stream(CH)) if g["name"].decode() == group]
    return info["pending"] == 0 and info["lag"] == 0


def test_the_scripts_and_python_agree_on_the_bucket_and_the_skew() -> None:
    from importlib.resources import files

    prelude = files("eventbus").joinpath("lua", "prelude.lua").read_text()
    assert re.search(rf"local BUCKET_MS, SKEW_MS = {BUCKET_MS}, {BUCKET_SKEW_MS}\n", prelude)


async def test_a_replayed_event_is_skipped_and_its_mark_is_in_its_time_bucket(bus: Bus) -> None:
    event = event_made(seconds_ago=1)
    since = datetime.now(UTC) - timedelta(seconds=5)
    effects = await handled_by(bus, [event, event])  # the producer appended it twice
    marks = Marks(bus)
    assert await marks.in_bucket(event.id) and not await marks.in_sorted_set(event.id)
    [(name, start)] = (await marks.buckets()).items()
    made_ms = ulid_transform.ulid_to_timestamp(event.id.removeprefix("evt_"))
    assert name == bucket(event.id) and start == bucket_start(name) <= made_ms < start + BUCKET_MS
    assert await marks.count() == 1

    async def effect(seen: Envelope) -> None:
        effects[seen.id] += 1

    async with Consumer(bus, GROUP, [Subscription(CH, effect)], block=timedelta(milliseconds=50)).running():
        await replay_since(bus, CH, GROUP, since)
        await asyncio.sleep(0.3)
        await eventually(lambda: _settled(bus, GROUP))
    assert effects == {event.id: 1}


async def test_a_bare_ulid_id_is_marked_apart_from_its_evt_spelling(bus: Bus) -> None:
    bare = event_made(seconds_ago=1, bare=True)
    prefixed = bare.model_copy(update={"id": f"evt_{bare.id}"})
    effects = await handled_by(bus, [bare, prefixed, bare])
    assert effects == {bare.id: 1, prefixed.id: 1}  # two ids, each once
    assert await Marks(bus).sizes() == {bucket(bare.id): 2}


async def test_a_mark_in_the_sorted_set_from_before_the_upgrade_is_still_honoured(bus: Bus) -> None:
    event = event_made(seconds_ago=1)
    # what the consumer scripts wrote before buckets: the id in the sorted set, scored by when it was handled
    await bus.redis.zadd(bus.keys.processed(CH, GROUP), {event.id: int(time.time() * 1000)})
    fresh = event_made(seconds_ago=1, i=1)
    effects = await handled_by(bus, [event, fresh], skipped=1)
    assert effects == {fresh.id: 1}, "the event marked before the upgrade is not handled again"


async def test_an_event_whose_id_is_a_uuid_is_remembered_in_the_sorted_set(bus: Bus) -> None:
    event = Envelope.new(samples.message_received(), source="tests", company_id=samples.COMPANY)
    event = event.model_copy(update={"id": str(uuid.uuid4())})  # another team's producer
    effects = await handled_by(bus, [event, event])
    assert effects == {event.id: 1}
    marks = Marks(bus)
    assert await marks.in_sorted_set(event.id) and await marks.buckets() == {} and await marks.count() == 0


async def test_an_event_handled_far_from_its_ids_time_is_marked_in_the_sorted_set(bus: Bus) -> None:
    """Its bucket's age says nothing about when it was handled: a bucket of a day ago would be trimmed a day
    early. The sorted set scores it with the time it was handled, as before buckets."""
    late = event_made(seconds_ago=86_400)
    ahead = event_made(seconds_ago=-(BUCKET_SKEW_MS / 1000 + 60), i=1)  # a producer's clock 6 minutes ahead
    effects = await handled_by(bus, [late, ahead, late, ahead])
    assert effects == {late.id: 1, ahead.id: 1}
    marks = Marks(bus)
    for event in (late, ahead):
        assert await marks.in_sorted_set(event.id) and not await marks.in_bucket(event.id)


async def test_trimming_by_count_drops_the_oldest_buckets_and_moves_the_replay_window(
    redis_url: str, bus_settings: BusSettings
) -> None:
    # No hard ceiling: on a busy machine the consumer may lag the publisher past twice stream_maxlen.
    settings = bus_settings.model_copy(
        update={"stream_maxlen": 4, "processed_maxlen": 4, "stream_ceiling": 0}
    )
    async with Bus.from_url(redis_url, source="tests", settings=settings) as bus:
        started = datetime.now(UTC)
        # four buckets of three ids, oldest first, all within the skew (5 minutes: 9 buckets)
        events = [event_in_bucket(7 - 2 * b, i=k) for b in range(4) for k in range(3)]
        names = list(dict.fromkeys(bucket(e.id) for e in events))
        assert len(names) == 4
        effects = await handled_by(bus, events, one_by_one=True)
        assert set(effects.values()) == {1} and len(effects) == 12
        marks = Marks(bus)
        sizes = await marks.sizes()
        # whole buckets, oldest first, while the rest still hold processed_maxlen: never fewer marks than that
        assert list(sizes) == names[2:] and sum(sizes.values()) == await marks.count() == 6
        for dropped in names[:2]:
            assert not await bus.redis.exists(bus.keys.processed_bucket(CH, GROUP, dropped))
        start = await processed_window_start(bus, CH, GROUP)
        expected = (bucket_start(names[2]) + BUCKET_MS + BUCKET_SKEW_MS) / 1000
        assert start == datetime.fromtimestamp(expected, UTC) > started
        with pytest.raises(ReplayOutsideWindow):
            await replay_since(bus, CH, GROUP, started)


async def test_a_bucket_older_than_the_retention_is_dropped_with_its_count(bus: Bus) -> None:
    keys, marks = bus.keys, Marks(bus)
    nine_days = event_made(seconds_ago=9 * 86_400)
    old = bucket(nine_days.id)
    # as a group that handled it nine days ago left it (processed_retention is 8 days)
    await bus.redis.sadd(keys.processed_bucket(CH, GROUP, old), nine_days.id)
    await bus.redis.zadd(keys.processed_index(CH, GROUP), {old: bucket_start(old)})
    await bus.redis.incrby(keys.processed_count(CH, GROUP), 1)
    await bus.redis.zadd(keys.processed(CH, GROUP), {"evt_old": int(time.time() * 1000) - 9 * 86_400_000})
    fresh = event_made(seconds_ago=1)
    await handled_by(bus, [fresh])  # a new bucket: the trim runs
    assert await marks.buckets() == {bucket(fresh.id): bucket_start(bucket(fresh.id))}
    assert not await bus.redis.exists(keys.processed_bucket(CH, GROUP, old)) and await marks.count() == 1
    assert not await marks.in_sorted_set("evt_old")
    window = await processed_window_start(bus, CH, GROUP)
    assert abs(window - (datetime.now(UTC) - timedelta(days=8))) < timedelta(seconds=5)


async def test_forget_processed_forgets_every_bucket_and_the_sorted_set(bus: Bus) -> None:
    events = [event_in_bucket(2 * b, i=b) for b in range(3)]
    uuid_event = Envelope.new(samples.message_received(9), source="tests", company_id=samples.COMPANY)
    uuid_event = uuid_event.model_copy(update={"id": str(uuid.uuid4())})
    since = datetime.now(UTC) - timedelta(seconds=5)
    await handled_by(bus, [*events, uuid_event])
    names = list(await Marks(bus).buckets())
    assert len(names) == 3
    await forget_processed(bus, CH, GROUP)
    keys = bus.keys
    every = [keys.processed_bucket(CH, GROUP, name) for name in names]
    every += [keys.processed(CH, GROUP), keys.processed_index(CH, GROUP), keys.processed_count(CH, GROUP)]
    assert await bus.redis.exists(*every) == 0
    effects: Counter = Counter()

    async def effect(event: Envelope) -> None:
        effects[event.id] += 1

    async with Consumer(bus, GROUP, [Subscription(CH, effect)], block=timedelta(milliseconds=50)).running():
        await replay_since(bus, CH, GROUP, since, force=True)
        await eventually(lambda: asyncio.sleep(0, len(effects) == 4))
    assert set(effects.values()) == {1}, "every handler runs again after forget_processed"


@pytest.mark.parametrize(
    "odd", ["z" * 26, "8" + "0" * 25, "evt_" + "0123456-" * 3 + "01", "evt_" + "0" * 26 + "x"]
)
async def test_an_entry_whose_id_only_looks_like_a_ulid_is_dead_lettered_not_a_script_error(
    bus: Bus, odd: str
) -> None:
    """Admission reads a bucket from the id of every entry, before the envelope is parsed: an id another
    producer wrote by hand (lowercase, a time past 48 bits, a dash) is no ULID and must not break the batch."""
    stream = bus.keys.stream(CH)
    await bus.redis.xadd(stream, {"i": odd, "t": CH, "v": "1", "e": "{}"})
    fresh = event_made(seconds_ago=1)
    await handled_by(bus, [fresh])
    assert await Marks(bus).in_bucket(fresh.id)
    assert await bus.redis.xlen(bus.keys.dead_letters(CH, GROUP)) == 1
