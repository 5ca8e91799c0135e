"""What a publish costs the publishing process: ``Bus.publish`` against raw redis-py commands, same run.

    uv run python bench/bus_publish.py [--messages 20000] [--rounds 3] [--markdown]

One process, one real redis-server (AOF on, ``everysec``), the same ~600-byte ``message.received`` envelope.
For 1, 8 and 32 concurrent publishing tasks (a webhook server has as many as requests in flight), each
configuration publishes ``--messages`` events and reports the publishing process's CPU per event
(``time.process_time``) and events per second. Configurations, alternated within each round (medians):

- ``raw XADD``: ``redis.xadd(stream, fields)`` awaited per event on the service's own client
  (``eventbus.connect``): one command, no dedupe, no live PUBLISH, the floor for "durably appended" with
  redis-py;
- ``raw EVALSHA``: the bus's own publish script called per event through redis-py's ``AsyncScript`` (what
  ``Bus.publish`` did before it batched, packed and timed its own round trips);
- ``Bus.emit``: a new envelope (ids, timestamps, validation) and ``Bus.publish`` with a dedupe key: append,
  dedupe and live PUBLISH in one atomic script, concurrent calls sharing round trips.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eventbus import Bus, BusSettings, Envelope, MessageReceived
from eventbus.testing import samples

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _tables import Table, render

KINDS = ("raw XADD", "raw EVALSHA", "Bus.emit")


async def _publish(bus: Bus, kind: str, messages: int, tasks: int, tag: str) -> tuple[float, float]:
    payload: MessageReceived = samples.message_received(1)
    wire = Envelope.new(payload, source="evolution-manager", company_id=samples.COMPANY).to_wire()
    stream, live, s = bus.keys.stream("message.received"), bus.keys.live("message.received"), bus.settings
    retention = [
        s.stream_maxlen,
        int(s.stream_max_age.total_seconds() * 1000),
        int(s.dedupe_retention.total_seconds() * 1000),
    ]
    feed = iter(range(messages))

    async def worker() -> None:
        for i in feed:
            if kind == "raw XADD":
                await bus.redis.xadd(stream, {"e": wire})
            elif kind == "raw EVALSHA":
                await bus.scripts.publish(
                    keys=[
                        stream,
                        bus.keys.retention("message.received"),
                        bus.keys.dedupe("message.received", f"{tag}:{i}"),
                    ],
                    args=[
                        f"evt_{tag}{i}",
                        "message.received",
                        1,
                        wire,
                        live,
                        *retention,
                        "PUBLISH",
                        s.ceiling,
                    ],
                )
            else:
                await bus.emit(payload, company_id=samples.COMPANY, dedupe_key=f"{tag}:{i}")

    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
    return cpu / messages * 1e6, messages / wall


async def _run(url: str, args: argparse.Namespace) -> dict[tuple[int, str], list[tuple[float, float]]]:
    results: dict[tuple[int, str], list[tuple[float, float]]] = {}
    settings = BusSettings(prefix="benchpub", live_prefix="benchpub:", stream_maxlen=100_000)
    async with Bus.from_url(url, source="evolution-manager", settings=settings) as bus:
        await _publish(bus, "Bus.emit", 2000, 8, "warm")  # scripts loaded, connections open
        await _publish(bus, "raw EVALSHA", 200, 8, "warm")
        for r in range(args.rounds):
            for tasks in (1, 8, 32):
                order = KINDS if r % 2 == 0 else KINDS[::-1]
                for kind in order:
                    tag = f"r{r}t{tasks}{kind[:5]}".replace(" ", "")
                    results.setdefault((tasks, kind), []).append(
                        await _publish(bus, kind, args.messages, tasks, tag)
                    )
                await bus.redis.delete(bus.keys.stream("message.received"))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()

    from eventbus.server import RedisServer

    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp) / "redis", appendonly=True) as redis:
        results = asyncio.run(_run(redis.url, args))
    table = Table(
        f"Publishing, one process, {args.messages:,} events per run, {args.rounds} rounds (medians)",
        ["tasks", "configuration", "client CPU µs/event", "events/s", "CPU × raw EVALSHA"],
    )
    for tasks in (1, 8, 32):
        base: Any = statistics.median(c for c, _ in results[(tasks, "raw EVALSHA")])
        for kind in KINDS:
            runs = results[(tasks, kind)]
            cpu = statistics.median(c for c, _ in runs)
            rate = statistics.median(r for _, r in runs)
            table.rows.append([str(tasks), kind, f"{cpu:.1f}", f"{rate:,.0f}", f"{cpu / base:.2f}×"])
    print(render([table], markdown=args.markdown))
    print(f"run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
