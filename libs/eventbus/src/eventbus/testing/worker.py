"""A consumer process for the bus's crash and replica tests: ``python -m eventbus.testing.worker``.

Its handler stands for a real side effect through an API with an idempotency key (as the services'
handlers do, ``docs/reliability.md``): it counts every invocation per event id (``<record>:calls``) and
applies the effect once per event id (``HSETNX <record>:effects``), noting which consumer did it. The
tests then check that nothing was lost, that every effect happened once, and how often a handler was
re-invoked after a crash.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from eventbus.bus import Bus
from eventbus.consumer import Backoff, Consumer, Subscription
from eventbus.envelope import Envelope
from eventbus.settings import BusSettings


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--prefix", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--channel", default="message.received")
    p.add_argument("--record", required=True, help="key prefix where invocations and effects are recorded")
    p.add_argument("--sleep-ms", type=float, default=0.0)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--visibility-ms", type=int, default=2000)
    p.add_argument("--ordering-key", default="", help="comma-separated envelope paths")
    p.add_argument(
        "--max-batch", type=int, default=0, help="handle with a batch handler, this many events per call"
    )
    return p.parse_args()


async def _main(args: argparse.Namespace) -> None:
    settings = BusSettings(prefix=args.prefix, live_prefix=f"{args.prefix}:")
    async with Bus.from_url(args.url, source="worker", settings=settings) as bus:
        redis = bus.redis
        calls, effects, order = f"{args.record}:calls", f"{args.record}:effects", f"{args.record}:order"

        async def handle(event: Envelope[Any]) -> None:
            await redis.hincrby(calls, event.id, 1)
            if args.sleep_ms:
                await asyncio.sleep(args.sleep_ms / 1000)
            if await redis.hsetnx(effects, event.id, args.name):
                key = event.payload.lead_external_id if args.ordering_key else ""
                await redis.rpush(order, f"{key}|{event.payload.raw.get('seq', '')}|{args.name}")

        async def handle_batch(events: Sequence[Envelope[Any]]) -> list[Exception | None]:
            # What a batch handler does: each phase for every event at once, in one round trip each.
            async with redis.pipeline(transaction=False) as pipe:
                for event in events:
                    pipe.hincrby(calls, event.id, 1)
                await pipe.execute()
            if args.sleep_ms:
                await asyncio.sleep(args.sleep_ms / 1000)
            async with redis.pipeline(transaction=False) as pipe:
                for event in events:
                    pipe.hsetnx(effects, event.id, args.name)
                applied = await pipe.execute()
            async with redis.pipeline(transaction=False) as pipe:
                for event, first in zip(events, applied, strict=True):
                    if first:
                        key = event.payload.lead_external_id if args.ordering_key else ""
                        pipe.rpush(order, f"{key}|{event.payload.raw.get('seq', '')}|{args.name}")
                await pipe.execute()
            return [None] * len(events)

        handlers: dict[str, Any] = (
            {"batch_handler": handle_batch, "max_batch": args.max_batch}
            if args.max_batch
            else {"handler": handle}
        )
        sub = Subscription(
            args.channel,
            **handlers,
            concurrency=args.concurrency,
            backoff=Backoff(initial=0.05, maximum=0.5),
            ordering_key=tuple(p for p in args.ordering_key.split(",") if p),
        )
        consumer = Consumer(
            bus,
            args.group,
            [sub],
            name=args.name,
            batch_size=args.batch,
            block=timedelta(milliseconds=200),
            visibility_timeout=timedelta(milliseconds=args.visibility_ms),
        )
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, consumer.stop)
        await redis.set(f"{args.record}:ready:{args.name}", 1)
        await consumer.run()


def main() -> None:
    asyncio.run(_main(_parse()))


if __name__ == "__main__":
    main()
