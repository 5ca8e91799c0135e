"""Redis memory per retained stream entry, processed id and producer idempotency key; and what a lagging
consumer group holds through the real publish script (stream_maxlen, stream_ceiling).

    uv run python bench/retention_memory.py [--count 100000] [--rate 20]

A processed id is measured both ways a group keeps it (``eventbus.idempotency``): in its time bucket (ULIDs
made ``--rate`` a second, so each 32.8-second bucket holds 32.8 × rate of them, with the buckets' index and
count, laid out as the consumer scripts write them) and in the sorted set (UUIDs, ids handled late).

Fills a fresh server with the same ~600-byte ``message.received`` envelope the throughput benchmark uses
and reads ``used_memory`` deltas and ``MEMORY USAGE``; ``docs/retention.md`` derives the default retentions
from the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import ulid_transform
from eventbus import Bus, BusSettings, group_stats
from eventbus.server import RedisServer
from eventbus.testing import samples

CH = "message.received"


async def used(bus: Bus) -> int:
    return int((await bus.redis.info("memory"))["used_memory"])


async def fill(bus: Bus, count: int, add) -> None:  # type: ignore[no-untyped-def]
    async with bus.redis.pipeline(transaction=False) as pipe:
        for i in range(count):
            add(pipe, i)
            if i % 5000 == 4999:
                await pipe.execute()
        await pipe.execute()


async def measure(count: int, rate: float) -> list[tuple[str, float, float]]:
    with RedisServer(Path(tempfile.mkdtemp())) as server:
        async with Bus.from_url(server.url, source="bench") as bus:
            stream, processed = bus.keys.stream(CH), bus.keys.processed(CH, "group")
            start = await used(bus)

            def entry(pipe, i: int) -> None:  # type: ignore[no-untyped-def]
                event = samples.envelope(samples.message_received(i))
                pipe.xadd(stream, {"i": event.id, "t": CH, "v": "1", "e": event.to_wire()})

            await fill(bus, count, entry)
            after_stream = await used(bus)
            await fill(
                bus, count, lambda pipe, i: pipe.zadd(processed, {f"evt_{i:026d}": 1_795_430_489_883 + i})
            )
            after_sorted = await used(bus)
            made = time.time() - count / rate
            index, marks = bus.keys.processed_index(CH, "group"), bus.keys.processed_count(CH, "group")

            def bucketed(pipe, i: int) -> None:  # type: ignore[no-untyped-def]
                ulid = ulid_transform.ulid_at_time(made + i / rate)
                pipe.sadd(bus.keys.processed_bucket(CH, "group", ulid[:7]), f"evt_{ulid}")
                pipe.zadd(index, {ulid[:7]: int((made + i / rate) * 1000) // 32768 * 32768})
                pipe.incr(marks)

            await fill(bus, count, bucketed)
            after_processed = await used(bus)
            await fill(
                bus,
                count,
                lambda pipe, i: pipe.set(
                    bus.keys.dedupe(CH, f"ins_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1:3EB0C767D26A1D{i:08d}"),
                    f"evt_{i:026d}",
                    px=86_400_000,
                ),
            )
            after_dedupe = await used(bus)
            stream_usage = await bus.redis.memory_usage(stream, samples=0) or 0
            processed_usage = await bus.redis.memory_usage(processed, samples=0) or 0
            buckets = [name.decode() for name in await bus.redis.zrange(index, 0, -1)]
            bucket_usage = sum(
                [
                    await bus.redis.memory_usage(bus.keys.processed_bucket(CH, "group", name), samples=0) or 0
                    for name in buckets
                ]
            )
            bucket_usage += (await bus.redis.memory_usage(index, samples=0) or 0) + (
                await bus.redis.memory_usage(marks, samples=0) or 0
            )
    return [
        ("stream entry (~600 B envelope)", (after_stream - start) / count, stream_usage / count),
        ("processed id (sorted set member)", (after_sorted - after_stream) / count, processed_usage / count),
        (
            f"processed id (bucket, {rate:g}/s: {count / len(buckets):.0f} a bucket)",
            (after_processed - after_sorted) / count,
            bucket_usage / count,
        ),
        ("producer idempotency key", (after_dedupe - after_processed) / count, float("nan")),
    ]


async def lagging(count: int) -> dict[str, float]:
    """``count`` publishes through ``Bus.publish`` at ``stream_maxlen = count / 4``, ``stream_ceiling = count / 2``,
    with one group that reads nothing and one that keeps up: the stream holds what the lagging group has not
    read, up to the ceiling, and counts the rest as dropped for it."""
    settings = BusSettings(prefix="lag", stream_maxlen=count // 4, stream_ceiling=count // 2)
    with RedisServer(Path(tempfile.mkdtemp())) as server:
        async with Bus.from_url(server.url, source="bench", settings=settings) as bus:
            stream = bus.keys.stream(CH)
            await bus.redis.xgroup_create(stream, "lagging", "0", mkstream=True)
            start = await used(bus)
            started = time.perf_counter()
            for first in range(0, count, 64):
                await asyncio.gather(
                    *(
                        bus.emit(samples.message_received(i), company_id=samples.COMPANY)
                        for i in range(first, min(count, first + 64))
                    )
                )
            seconds = time.perf_counter() - started
            length = await bus.redis.xlen(stream)
            [stats] = await group_stats(bus, CH)
            return {
                "published": count,
                "stream length": length,
                "dropped for the lagging group": stats.dropped,
                "used_memory Δ per retained entry (B)": (await used(bus) - start) / length,
                "retention hash (B)": await bus.redis.memory_usage(bus.keys.retention(CH), samples=0) or 0,
                "publish µs (wall, 64 in flight)": seconds / count * 1e6,
            }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument(
        "--rate", type=float, default=20.0, help="events a second the bucketed ids are made at"
    )
    args = parser.parse_args()
    rows = asyncio.run(measure(args.count, args.rate))
    wire = len(samples.envelope(samples.message_received(1)).to_wire())
    print(f"{args.count:,} of each; envelope on the wire: {wire} bytes")
    print(f"| {'what':<44} | {'used_memory Δ / item':>21} | {'MEMORY USAGE / item':>20} |")
    print(f"|{'-' * 46}|{'-' * 23}|{'-' * 22}|")
    for name, delta, usage in rows:
        print(f"| {name:<44} | {delta:>19.0f} B | {usage:>18.0f} B |")
    print()
    for name, value in asyncio.run(lagging(args.count)).items():
        print(f"| {name:<38} | {value:>12,.0f} |")


if __name__ == "__main__":
    main()
