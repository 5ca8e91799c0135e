"""The child processes of ``bench/bus_throughput.py``: one consumer or one publisher per process.

Each child is started with the ``spawn`` method and talks to the parent over a pipe: it does its setup
(connect, create the group, import and warm what it needs), answers ``ready``, waits for ``go``, works, and
answers with what it measured. Consumers also write two numbers to shared memory after every message (how
many they handled, and when the last one was handled), so that the parent can tell when a run is over
without a round trip through Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import io
import os
import pstats
import sys
import time
from array import array
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from multiprocessing.connection import Connection
from typing import Any

import redis.asyncio as aredis
from eventbus import Bus, BusSettings, Consumer, Envelope, Subscription, catalog
from eventbus.keys import Keys
from eventbus.testing import samples
from redis.exceptions import ResponseError
from servicekit.logging import configure_logging

CHANNEL = "message.received"
GROUP = "bench"
#: The idempotency markers of the naive and FastStream consumers live as long as the bus's processed ids.
PROCESSED_TTL_MS = int(BusSettings().processed_retention.total_seconds() * 1000)
_SENT = b'"sent_ns":'


@dataclass(frozen=True)
class Job:
    """What one child process does."""

    #: consumer: pubsub raw validate naive bus faststream faststream_batch; publisher: pubsub xadd bus
    kind: str
    url: str
    prefix: str
    messages: int
    name: str = "c0"
    latency: bool = False
    batch: int = 64
    concurrency: int = 16
    rate: float = 0.0  # publisher: messages per second, 0 for as fast as it goes
    tasks: int = 8  # publisher: concurrent publishing tasks when not paced
    profile: str = ""  # consumer: write a cProfile of the timed part here

    @property
    def keys(self) -> Keys:
        return Keys(self.prefix, f"{self.prefix}:")

    @property
    def settings(self) -> BusSettings:
        return BusSettings(prefix=self.prefix, live_prefix=f"{self.prefix}:")


def sent_ns_of(data: bytes) -> int:
    """The publisher's timestamp, without parsing the JSON (``sent_ns`` is the last key of ``raw``)."""
    start = data.rfind(_SENT) + len(_SENT)
    return int(data[start : data.index(b"}", start)])


def stamped_envelopes(count: int) -> list[Envelope[Any]]:
    """``count`` distinct ~600-byte ``message.received`` envelopes with a ``raw.sent_ns`` slot.

    ``raw`` is a plain dict inside the frozen model: the publisher overwrites ``sent_ns`` right before each
    send, and the wire form is produced after that.
    """
    out = []
    for n in range(count):
        event = samples.envelope(samples.message_received(n), source="bench")
        event.payload.raw["sent_ns"] = time.monotonic_ns()
        out.append(event)
    return out


class Probe:
    """Per-message bookkeeping shared by every consumer: the counter the parent watches, and latencies."""

    def __init__(self, shared: Any, latency: bool) -> None:
        self.shared = shared
        self.count = 0
        self.latencies: array[int] | None = array("q") if latency else None

    def handled(self, sent_ns: int) -> None:
        now = time.monotonic_ns()
        self.count += 1
        self.shared[1] = now  # the time first, then the count the parent polls
        self.shared[0] = self.count
        if self.latencies is not None:
            self.latencies.append(now - sent_ns)


Runner = Callable[[asyncio.Event], Awaitable[None]]


# -- consumers ----------------------------------------------------------------------------------------------


async def _group(r: aredis.Redis, stream: str) -> None:
    try:
        await r.xgroup_create(stream, GROUP, "0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def _setup_pubsub(job: Job, probe: Probe, closing: list[Any]) -> Runner:
    r = aredis.Redis.from_url(job.url)
    closing.append(r.aclose)
    pubsub = r.pubsub()
    await pubsub.subscribe(job.keys.live(CHANNEL))
    await pubsub.get_message(timeout=1.0)  # the subscribe confirmation
    latency = probe.latencies is not None

    async def run(stop: asyncio.Event) -> None:
        while not stop.is_set():
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
            if message is not None:
                probe.handled(sent_ns_of(message["data"]) if latency else 0)
        await pubsub.aclose()

    return run


async def _setup_stream(job: Job, probe: Probe, closing: list[Any]) -> Runner:
    """Configurations 2-4: batch reads; 2 acknowledges per batch, 3 also validates, 4 is naive."""
    r = aredis.Redis.from_url(job.url)
    closing.append(r.aclose)
    stream = job.keys.stream(CHANNEL)
    await _group(r, stream)
    catalog.envelope_model(CHANNEL, 1)  # built once per process; not part of a message's cost
    latency = probe.latencies is not None
    kind = job.kind
    marker = f"{job.prefix}:naive:"

    async def run(stop: asyncio.Event) -> None:
        while not stop.is_set():
            reply = await r.xreadgroup(GROUP, job.name, {stream: ">"}, count=job.batch, block=100)
            if not reply:
                continue
            entries = reply[0][1]
            if kind == "raw":
                for _entry_id, fields in entries:
                    probe.handled(sent_ns_of(fields[b"e"]) if latency else 0)
                await r.xack(stream, GROUP, *[entry_id for entry_id, _ in entries])
            elif kind == "validate":
                for _entry_id, fields in entries:
                    event = catalog.parse(fields[b"e"], event_type=CHANNEL, version=1)
                    probe.handled(event.payload.raw["sent_ns"] if latency else 0)
                await r.xack(stream, GROUP, *[entry_id for entry_id, _ in entries])
            else:  # naive: validate, then one SET NX and one XACK round trip per message
                for entry_id, fields in entries:
                    event = catalog.parse(fields[b"e"], event_type=CHANNEL, version=1)
                    if await r.set(marker + event.id, 1, nx=True, px=PROCESSED_TTL_MS):
                        pass  # first time: the (no-op) handler's side effect would run here
                    await r.xack(stream, GROUP, entry_id)
                    probe.handled(event.payload.raw["sent_ns"] if latency else 0)

    return run


async def _setup_bus(job: Job, probe: Probe, closing: list[Any]) -> Runner:
    bus_cm = Bus.from_url(job.url, source="bench", settings=job.settings)
    bus = await bus_cm.__aenter__()
    closing.append(lambda: bus_cm.__aexit__(None, None, None))
    await bus.ping()
    await _group(bus.redis, bus.keys.stream(CHANNEL))
    catalog.envelope_model(CHANNEL, 1)
    latency = probe.latencies is not None

    async def handler(event: Envelope[Any]) -> None:
        probe.handled(event.payload.raw["sent_ns"] if latency else 0)

    consumer = Consumer(
        bus,
        GROUP,
        [Subscription(CHANNEL, handler, concurrency=job.concurrency)],
        name=job.name,
        batch_size=job.batch,
        block=timedelta(milliseconds=100),
    )

    async def run(stop: asyncio.Event) -> None:
        task = asyncio.create_task(consumer.run())
        await stop.wait()
        consumer.stop()
        await task

    return run


async def _setup_faststream(job: Job, probe: Probe, closing: list[Any]) -> Runner:
    from faststream.redis import RedisBroker, StreamSub

    r = aredis.Redis.from_url(job.url)
    closing.append(r.aclose)
    stream = job.keys.stream(CHANNEL)
    # Created here at 0: FastStream would create it at "$" (new entries only) and skip a filled stream.
    await _group(r, stream)
    catalog.envelope_model(CHANNEL, 1)
    latency = probe.latencies is not None
    marker = f"{job.prefix}:fs:"
    # logger=None: FastStream's default logs two INFO lines per message; the bus logs none at INFO.
    broker = RedisBroker(job.url, logger=None)
    batch = job.kind == "faststream_batch"
    sub = StreamSub(
        stream, group=GROUP, consumer=job.name, batch=batch, max_records=job.batch, polling_interval=100
    )

    if batch:

        @broker.subscriber(stream=sub)
        async def handle_batch(body: list[dict[str, Any]]) -> None:
            events = [catalog.parse(item["e"], event_type=CHANNEL, version=1) for item in body]
            async with r.pipeline(transaction=False) as pipe:
                for event in events:
                    pipe.set(marker + event.id, 1, nx=True, px=PROCESSED_TTL_MS)
                await pipe.execute()
            for event in events:
                probe.handled(event.payload.raw["sent_ns"] if latency else 0)

    else:

        @broker.subscriber(stream=sub)
        async def handle(body: dict[str, Any]) -> None:
            event = catalog.parse(body["e"], event_type=CHANNEL, version=1)
            if await r.set(marker + event.id, 1, nx=True, px=PROCESSED_TTL_MS):
                pass  # first time: the (no-op) handler's side effect would run here
            probe.handled(event.payload.raw["sent_ns"] if latency else 0)

    await broker.connect()
    closing.append(broker.stop)

    async def run(stop: asyncio.Event) -> None:
        await broker.start()
        await stop.wait()
        await broker.stop()

    return run


SETUPS = {
    "pubsub": _setup_pubsub,
    "raw": _setup_stream,
    "validate": _setup_stream,
    "naive": _setup_stream,
    "bus": _setup_bus,
    "faststream": _setup_faststream,
    "faststream_batch": _setup_faststream,
}


def _configure_logging() -> None:
    """As the services do, at WARNING; ``--event-log`` (``BENCH_EVENT_LOG``) turns INFO on, with the lines
    written to a file, so that the catalog's line per publish and per handled event is rendered and written
    (eventbus.eventlog)."""
    path = os.environ.get("BENCH_EVENT_LOG")
    if path:
        sys.stdout = open(f"{path}.{os.getpid()}", "w", buffering=1 << 16)  # noqa: SIM115 - the process's life
        configure_logging("bench", level="INFO")
    else:
        configure_logging("bench", level="WARNING")


def consumer_main(job: Job, conn: Connection, shared: Any) -> None:
    _configure_logging()
    asyncio.run(_consume(job, conn, shared))


async def _consume(job: Job, conn: Connection, shared: Any) -> None:
    probe = Probe(shared, job.latency)
    closing: list[Any] = []
    try:
        run = await SETUPS[job.kind](job, probe, closing)
        conn.send(("ready", None))
        conn.recv()  # go: nothing else runs on this loop yet, blocking is fine
        stop = asyncio.Event()
        measured: dict[str, float] = {}
        profiler = cProfile.Profile() if job.profile else None

        def on_stop() -> None:
            conn.recv()
            if profiler is not None:
                profiler.disable()
            measured["cpu"] = time.process_time() - cpu0
            asyncio.get_running_loop().remove_reader(conn.fileno())
            stop.set()

        asyncio.get_running_loop().add_reader(conn.fileno(), on_stop)
        cpu0 = time.process_time()
        if profiler is not None:
            profiler.enable()
        await run(stop)
        report: dict[str, Any] = {"cpu": measured["cpu"], "handled": probe.count}
        if probe.latencies is not None:
            report["latencies"] = probe.latencies.tobytes()
        if profiler is not None:
            profiler.dump_stats(job.profile)
            report["profile"] = _profile_text(profiler)
        conn.send(("done", report))
    except BaseException as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        for close in reversed(closing):
            with contextlib.suppress(Exception):  # best effort on the way out
                await close()


def _profile_text(profiler: cProfile.Profile) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats("eventbus|redis/asyncio|pydantic|structlog|opentelemetry", 40)
    return out.getvalue()


# -- publisher ----------------------------------------------------------------------------------------------


def publisher_main(job: Job, conn: Connection) -> None:
    _configure_logging()
    asyncio.run(_publish(job, conn))


async def _publish(job: Job, conn: Connection) -> None:
    try:
        events = stamped_envelopes(job.messages)
        keys = job.keys
        closing: list[Any] = []
        send: Callable[[Envelope[Any]], Awaitable[Any]]
        if job.kind == "bus":
            bus_cm = Bus.from_url(job.url, source="bench", settings=job.settings)
            bus = await bus_cm.__aenter__()
            closing.append(lambda: bus_cm.__aexit__(None, None, None))
            await bus.ping()
            send = bus.publish
        else:
            r = aredis.Redis.from_url(job.url)
            closing.append(r.aclose)
            await r.ping()
            stream, live = keys.stream(CHANNEL), keys.live(CHANNEL)
            if job.kind == "xadd":  # the fields and the order bus.publish writes

                def send(e: Envelope[Any]) -> Awaitable[Any]:
                    return r.xadd(stream, {"i": e.id, "t": e.type, "v": e.version, "e": e.to_wire()})

            else:

                def send(e: Envelope[Any]) -> Awaitable[Any]:
                    return r.publish(live, e.to_wire())

        conn.send(("ready", None))
        conn.recv()
        cpu0, t0 = time.process_time(), time.monotonic_ns()
        if job.rate:
            interval = 1e9 / job.rate
            for n, event in enumerate(events):
                delay = t0 + n * interval - time.monotonic_ns()
                if delay > 0:
                    await asyncio.sleep(delay / 1e9)
                event.payload.raw["sent_ns"] = time.monotonic_ns()
                await send(event)
        else:
            feed = iter(events)

            async def worker() -> None:
                for event in feed:
                    event.payload.raw["sent_ns"] = time.monotonic_ns()
                    await send(event)

            await asyncio.gather(*(worker() for _ in range(job.tasks)))
        elapsed = (time.monotonic_ns() - t0) / 1e9
        conn.send(("done", {"cpu": time.process_time() - cpu0, "elapsed": elapsed}))
        for close in reversed(closing):
            await close()
    except BaseException as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        raise
