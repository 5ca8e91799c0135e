"""Retention never drops unread events silently: streams are trimmed only past what every consumer group is
done with, up to a hard ceiling; past it, what a group loses is counted (metric, stats, readiness)."""

import asyncio
from collections import Counter
from datetime import timedelta

from eventbus import Bus, BusSettings, Consumer, Envelope, Subscription, group_stats
from eventbus.testing import samples
from eventbus.testing.waiting import eventually
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

CH = "message.received"


async def publish(bus: Bus, n: int) -> list[str]:
    """``n`` events, eight publishes in flight at a time (they share round trips, as a webhook server's do)."""
    ids: list[str] = []
    for start in range(0, n, 8):
        published = await asyncio.gather(
            *(
                bus.emit(samples.message_received(i), company_id=samples.COMPANY)
                for i in range(start, min(n, start + 8))
            )
        )
        ids.extend(p.event_id for p in published)
    return ids


def counting(seen: Counter):
    async def handle(event: Envelope) -> None:
        seen[event.id] += 1

    return handle


def consumer(bus: Bus, group: str, seen: Counter, **kw) -> Consumer:
    return Consumer(bus, group, [Subscription(CH, counting(seen))], block=timedelta(milliseconds=50), **kw)


async def test_a_group_lagging_past_the_length_bound_loses_nothing_below_the_ceiling(
    redis_url: str, bus_settings: BusSettings
) -> None:
    """5,000 events at stream_maxlen=500 while a group is not reading: the group later reads all 5,000 (the
    length bound used to leave it 500). Once it has, the stream comes back to its length bound."""
    settings = bus_settings.model_copy(update={"stream_maxlen": 500, "stream_ceiling": 10_000})
    async with Bus.from_url(redis_url, source="tests", settings=settings) as bus:
        await bus.redis.xgroup_create(bus.keys.stream(CH), "late", "0", mkstream=True)
        ids = await publish(bus, 5000)
        assert await bus.redis.xlen(bus.keys.stream(CH)) == 5000
        seen: Counter = Counter()
        async with consumer(bus, "late", seen).running():
            await eventually(lambda: asyncio.sleep(0, len(seen) == 5000), timeout=60)
            await asyncio.sleep(1.1)  # the acknowledgements land and the cached floor expires
            ids += await publish(bus, 10)
            await eventually(lambda: asyncio.sleep(0, len(seen) == 5010))
        assert set(seen) == set(ids) and set(seen.values()) == {1}
        assert 500 <= await bus.redis.xlen(bus.keys.stream(CH)) <= 510  # read entries trimmed again
        [stats] = await group_stats(bus, CH)
        assert stats.dropped == 0 and stats.dropped_at is None


async def test_past_the_ceiling_each_group_s_loss_is_counted_and_the_group_is_degraded(
    redis_url: str, bus_settings: BusSettings
) -> None:
    settings = bus_settings.model_copy(update={"stream_maxlen": 100, "stream_ceiling": 1000})
    async with Bus.from_url(redis_url, source="tests", settings=settings) as bus:
        await bus.redis.xgroup_create(bus.keys.stream(CH), "slow", "0", mkstream=True)
        fast_seen: Counter = Counter()
        async with consumer(bus, "fast", fast_seen).running():
            await eventually(lambda: _group_exists(bus, "fast"))
            ids = await publish(bus, 3000)
            await eventually(lambda: _idle(bus, "fast"), timeout=30)
        assert await bus.redis.xlen(bus.keys.stream(CH)) <= 1000

        slow_seen: Counter = Counter()
        slow = consumer(bus, "slow", slow_seen, stats_interval=timedelta(milliseconds=100))
        with capture_logs() as logs:
            async with slow.running():
                stats = {s.group: s for s in await group_stats(bus, CH)}
                lost = stats["slow"].dropped
                assert lost >= 2000 and stats["slow"].dropped_at is not None
                await eventually(lambda: asyncio.sleep(0, len(slow_seen) == 3000 - lost), timeout=30)
                await eventually(slow.degraded)
                reason = await slow.degraded()
        # Nothing is lost silently: what each group handled and what it is told it lost add up to everything.
        assert set(slow_seen) | set(fast_seen) <= set(ids) and set(slow_seen.values()) <= {1}
        assert len(slow_seen) + lost == 3000
        assert len(fast_seen) + stats["fast"].dropped == 3000
        assert f"{lost} unread events dropped at the stream's ceiling" in reason
        dropped_metric = REGISTRY.get_sample_value(
            "eventbus_group_dropped_unread", {"type": CH, "group": "slow"}
        )
        assert dropped_metric == lost
        [logged] = [entry for entry in logs if entry["event"] == "events_dropped_unread"]
        assert logged["group"] == "slow" and logged["dropped_total"] == lost


async def _group_exists(bus: Bus, group: str) -> bool:
    return group in {s.group for s in await group_stats(bus, CH)}


async def _idle(bus: Bus, group: str) -> bool:
    [stats] = [s for s in await group_stats(bus, CH) if s.group == group]
    return stats.lag == 0 and stats.pending == 0
