import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import eventbus
import jsonschema
from eventbus import Bus, Consumer, DeadLetters, Envelope, PermanentFailure, Subscription, contracts
from eventbus.operations import forget_processed, group_stats, replay_since
from eventbus.testing import samples
from eventbus.testing.monitor import record
from eventbus.testing.waiting import eventually
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

CH = "message.received"


def quick(bus: Bus, group: str, handler, **kw) -> Consumer:
    return Consumer(bus, group, [Subscription(CH, handler, **kw)], block=timedelta(milliseconds=100))


async def test_replay_since_redelivers_history_but_side_effects_stay_once(bus: Bus) -> None:
    effects = Counter()

    async def effect(event: Envelope) -> None:
        effects[event.id] += 1

    start = datetime.now(UTC) - timedelta(seconds=1)
    ids = [
        (await bus.emit(samples.message_received(i), company_id=samples.COMPANY)).event_id for i in range(20)
    ]
    async with quick(bus, "proj", effect).running():
        await eventually(lambda: asyncio.sleep(0, len(effects) == 20))
        await replay_since(bus, CH, "proj", start)
        await asyncio.sleep(0.3)
        assert set(effects.values()) == {1}, "already-processed events are skipped"
        await forget_processed(bus, CH, "proj")
        await replay_since(bus, CH, "proj", start)
        await eventually(lambda: asyncio.sleep(0, set(effects.values()) == {2}))
    assert set(effects) == set(ids), "a rebuild after forget_processed runs every handler again"


async def test_dead_letters_can_be_inspected_paged_and_purged(bus: Bus) -> None:
    async def reject(event: Envelope) -> None:
        raise PermanentFailure(f"bad {event.payload.raw['message_id']}")

    for i in range(5):
        await bus.emit(samples.message_received(i), company_id=samples.COMPANY)
    dead = DeadLetters(bus, CH, "picky")
    async with quick(bus, "picky", reject).running():
        await eventually(lambda: _has(dead, 5))
    first = await dead.list(count=2)
    rest = await dead.list(after=first[-1].id)
    assert len(first) == 2 and len(rest) == 3
    letter = await dead.get(first[0].id)
    assert letter.reason == "permanent_failure" and letter.channel == CH and letter.group == "picky"
    assert letter.consumer and letter.published_at.endswith("Z") and letter.dead_lettered_at.endswith("Z")
    assert await dead.purge(letter.id) == 1
    assert await dead.purge() == 4
    assert await dead.count() == 0
    [stats] = [s for s in await group_stats(bus, CH) if s.group == "picky"]
    assert stats.pending == 0 and stats.dead_letters == 0


async def _has(dead: DeadLetters, n: int) -> bool:
    return await dead.count() == n


async def test_a_batch_costs_at_most_two_round_trips(bus: Bus) -> None:
    """Drain 1,000 events in batches of 100: one read-and-admit script call per batch, acks riding along.
    Counted on the server (MONITOR of the node that holds the channel), whatever connection the consumer
    sends them over."""
    handled = 0

    async def count(event: Envelope) -> None:
        nonlocal handled
        handled += 1

    async with bus.redis.pipeline(transaction=False) as pipe:
        for i in range(1000):
            event = samples.envelope(samples.message_received(i))
            pipe.xadd(bus.keys.stream(CH), {"i": event.id, "t": CH, "v": "1", "e": event.to_wire()})
        await pipe.execute()
    await bus.redis.xgroup_create(bus.keys.stream(CH), "counted", "0")
    consumer = Consumer(
        bus, "counted", [Subscription(CH, count, concurrency=100)], batch_size=100, block=timedelta(seconds=5)
    )

    async def drain() -> None:
        # The consumer starts and stops under MONITOR: started before it, its first batch could run before
        # the recording began (seen once on the cluster: 9 script calls for 10 batches).
        async with consumer.running():
            await eventually(lambda: asyncio.sleep(0, handled == 1000))

    async with _node_of(bus, bus.keys.stream(CH)) as node:
        ran = await record(node, drain)
    await eventually(lambda: _group_done(bus))  # stopping settled the last acknowledgements
    commands = Counter(unit.args[0][0].upper() for unit, _, _ in ran)
    # Opening a connection (HELLO, CLIENT SETINFO, AUTH, SELECT) and its health checks (PING) happen per
    # connection, not per batch: the consumer opens a few of them (its read lane, the pool).
    round_trips = Counter({c: n for c, n in commands.items() if c not in _CONNECTION_SETUP})
    assert round_trips["EVALSHA"] >= 10, commands  # the consumer's commands were seen
    # 10 batches → ≤ 2 round trips each, plus a few for start-up (group, drain, reclaim, stats), idle
    # blocking reads and heartbeats while the last handlers finish.
    assert sum(round_trips.values()) <= 2 * 10 + 12, commands


_CONNECTION_SETUP = {"HELLO", "CLIENT", "AUTH", "SELECT", "PING"}


@asynccontextmanager
async def _node_of(bus: Bus, key: str) -> AsyncIterator[Redis]:
    """A plain client of the server holding ``key``: the one server, or its primary in a cluster."""
    if isinstance(bus.redis, RedisCluster):
        node = bus.redis.get_node_from_key(key)
        async with Redis(host=node.host, port=node.port) as direct:
            yield direct
    else:
        yield bus.redis


async def _group_done(bus: Bus) -> bool:
    [stats] = [s for s in await group_stats(bus, CH) if s.group == "counted"]
    return stats.pending == 0 and stats.lag == 0


def test_the_public_api_is_pinned() -> None:
    assert sorted(eventbus.__all__) == sorted(name for name in dir(eventbus) if name in eventbus.__all__)
    assert {
        "BatchOutcomes",
        "Bus",
        "Consumer",
        "Subscription",
        "Envelope",
        "DeadLetters",
        "BusUnavailable",
        "PermanentFailure",
        "tap",
        "replay_since",
        "forget_processed",
        "group_stats",
    } <= set(eventbus.__all__)


schemas = {
    name: jsonschema.Draft202012Validator(contracts.envelope_schema(name, 1)) for name in eventbus.CHANNELS
}


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(
    event_type=st.sampled_from(sorted(eventbus.CHANNELS)),
    company=st.from_regex(r"\Acmp_[0-9A-Z]{26}\Z"),
    at=st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC)),
)
def test_every_envelope_the_models_produce_satisfies_the_published_schema(event_type, company, at) -> None:
    event = Envelope.new(
        samples.every_channel()[event_type], source="tests", company_id=company, occurred_at=at
    )
    schemas[event_type].validate(__import__("json").loads(event.to_wire()))
