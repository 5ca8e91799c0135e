"""Faults for real: consumer processes killed with SIGKILL, replicas racing, Redis killed and flushed."""

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import timedelta

import pytest
from eventbus import Bus, BusSettings, Consumer, Envelope, Subscription
from eventbus.server import RedisServer
from eventbus.testing import samples
from eventbus.testing.waiting import eventually
from ulid import ULID

pytestmark = pytest.mark.slow
CH = "message.received"


class Workers:
    """Consumer processes (``eventbus.testing.worker``) sharing a group and a record of their effects."""

    def __init__(self, url: str, settings: BusSettings, group: str = "workers") -> None:
        self.url, self.settings, self.group = url, settings, group
        self.record = f"rec{ULID()}"
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, *extra: str) -> subprocess.Popen:
        cmd = [
            sys.executable,
            "-m",
            "eventbus.testing.worker",
            "--url",
            self.url,
            "--prefix",
            self.settings.prefix,
            "--group",
            self.group,
            "--name",
            name,
            "--record",
            self.record,
            *extra,
        ]
        self.procs[name] = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return self.procs[name]

    def kill(self, name: str) -> None:
        self.procs[name].send_signal(signal.SIGKILL)
        self.procs[name].wait()

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()

    async def ready(self, bus: Bus, *names: str) -> bool:
        return all([await bus.redis.exists(f"{self.record}:ready:{name}") for name in names])

    async def effects(self, bus: Bus) -> dict[str, str]:
        return {
            k.decode(): v.decode() for k, v in (await bus.redis.hgetall(f"{self.record}:effects")).items()
        }

    async def calls(self, bus: Bus) -> Counter:
        raw = await bus.redis.hgetall(f"{self.record}:calls")
        return Counter({k.decode(): int(v) for k, v in raw.items()})


@pytest.fixture
def workers(redis_url: str, bus_settings: BusSettings):
    w = Workers(redis_url, bus_settings)
    yield w
    w.stop_all()


async def publish_many(bus: Bus, n: int) -> list[str]:
    ids = []
    async with bus.redis.pipeline(transaction=False) as pipe:
        for i in range(n):
            event = samples.envelope(samples.message_received(i))
            ids.append(event.id)
            pipe.xadd(bus.keys.stream(CH), {"i": event.id, "t": CH, "v": "1", "e": event.to_wire()})
        await pipe.execute()
    return ids


#: A handler per event, or a batch handler of up to 8 events per call.
HANDLERS = pytest.mark.parametrize("handler", [(), ("--max-batch", "8")], ids=["per-event", "batched"])


@HANDLERS
async def test_consumer_killed_mid_batch_loses_nothing_and_repeats_no_side_effect(
    bus: Bus, workers, handler
) -> None:
    ids = await publish_many(bus, 2000)
    workers.start("w1", "--sleep-ms", "1", "--concurrency", "16", *handler)
    await eventually(lambda: _count(bus, workers, at_least=300), timeout=30)
    workers.kill("w1")
    done_at_kill = len(await workers.effects(bus))
    assert done_at_kill < 2000, "killed mid-run"
    workers.start("w1", "--sleep-ms", "1", "--concurrency", "16", *handler)  # drains its own pending first
    await eventually(lambda: _count(bus, workers, at_least=2000), timeout=60)
    effects, calls = await workers.effects(bus), await workers.calls(bus)
    assert set(effects) == set(ids), "nothing lost"
    repeated = {event_id: n for event_id, n in calls.items() if n > 1}
    # Only handlers interrupted by the kill can run again (at most the in-flight ones), and the effect
    # itself, keyed by event id at the "external API", still happened once (HSETNX).
    assert len(repeated) <= 16 * 2 + 32
    assert all(n == 2 for n in repeated.values())


async def test_two_replicas_over_10000_events_share_the_work_and_effect_each_once(bus: Bus, workers) -> None:
    workers.start("r1", "--concurrency", "16")
    workers.start("r2", "--concurrency", "16")
    await eventually(lambda: workers.ready(bus, "r1", "r2"), timeout=30)
    ids = await publish_many(bus, 10_000)
    await eventually(lambda: _count(bus, workers, at_least=10_000), timeout=120, interval=0.2)
    effects, calls = await workers.effects(bus), await workers.calls(bus)
    assert set(effects) == set(ids)
    assert set(calls.values()) == {1}, "no handler ran twice"
    by_worker = Counter(effects.values())
    assert by_worker["r1"] > 500 and by_worker["r2"] > 500, by_worker


@HANDLERS
async def test_ordering_key_holds_across_two_replicas(bus: Bus, workers, handler) -> None:
    leads = [f"+55119{n:08d}" for n in range(6)]
    args = (
        *("--ordering-key", "company_id,payload.lead_external_id", "--sleep-ms", "2", "--concurrency", "8"),
        *handler,
    )
    workers.start("o1", *args)
    workers.start("o2", *args)
    await eventually(lambda: workers.ready(bus, "o1", "o2"), timeout=30)  # both compete from the first event
    async with bus.redis.pipeline(transaction=False) as pipe:
        for seq in range(50):
            for lead in leads:
                payload = samples.message_received(seq, lead=lead).model_copy(update={"raw": {"seq": seq}})
                event = samples.envelope(payload)
                pipe.xadd(bus.keys.stream(CH), {"i": event.id, "t": CH, "v": "1", "e": event.to_wire()})
        await pipe.execute()
    await eventually(lambda: _count(bus, workers, at_least=300), timeout=90, interval=0.2)
    # The worker records the effect, then its place in the order: wait for the last one's place too.
    await eventually(lambda: _has(bus, f"{workers.record}:order", 300), timeout=10)
    order = [row.decode().split("|") for row in await bus.redis.lrange(f"{workers.record}:order", 0, -1)]
    for lead in leads:
        seqs = [int(seq) for key, seq, _ in order if key == f"wa:{lead}"]
        assert seqs == list(range(50)), f"{lead} handled out of order"
    assert {name for _, _, name in order} == {"o1", "o2"}, "both replicas worked"


async def _has(bus: Bus, key: str, length: int) -> bool:
    return await bus.redis.llen(key) >= length


async def _count(bus: Bus, workers: Workers, *, at_least: int) -> bool:
    return await bus.redis.hlen(f"{workers.record}:effects") >= at_least


async def test_consumers_recover_by_themselves_when_redis_is_killed_and_restarted(
    redis_server_factory,
) -> None:
    server: RedisServer = redis_server_factory(appendonly=True)
    effects: Counter = Counter()

    async def handle(event: Envelope) -> None:
        effects[event.id] += 1

    async with Bus.from_url(server.url, source="tests") as bus:
        before = [
            (await bus.emit(samples.message_received(i), company_id=samples.COMPANY)).event_id
            for i in range(100)
        ]
        consumer = Consumer(
            bus, "survivor", [Subscription(CH, handle)], block=timedelta(milliseconds=100), name="survivor-1"
        )
        async with consumer.running():
            await eventually(lambda: asyncio.sleep(0, len(effects) == 100))
            await asyncio.sleep(0.3)  # let the acknowledgements land, and AOF everysec write them
            server.kill()
            await asyncio.sleep(0.5)
            server.start()  # same port and directory: AOF replays the streams, groups and processed ids
            after = []
            for i in range(100):
                after.append(
                    (await bus.emit(samples.message_received(i), company_id=samples.COMPANY)).event_id
                )
            await eventually(lambda: asyncio.sleep(0, len(effects) == 200), timeout=30)
    assert set(effects) == set(before + after) and set(effects.values()) == {1}


async def test_consumers_recover_by_themselves_from_a_flushed_redis(redis_server_factory) -> None:
    server: RedisServer = redis_server_factory(appendonly=False)
    effects: Counter = Counter()

    async def handle(event: Envelope) -> None:
        effects[event.id] += 1

    async with Bus.from_url(server.url, source="tests") as bus:
        consumer = Consumer(bus, "flushed", [Subscription(CH, handle)], block=timedelta(milliseconds=100))
        async with consumer.running():
            first = (await bus.emit(samples.message_received(), company_id=samples.COMPANY)).event_id
            await eventually(lambda: asyncio.sleep(0, first in effects))
            await bus.redis.flushall()
            second = (await bus.emit(samples.message_received(), company_id=samples.COMPANY)).event_id
            await eventually(lambda: asyncio.sleep(0, second in effects), timeout=30)
    assert effects == {first: 1, second: 1}


def test_worker_module_is_importable_without_side_effects() -> None:
    assert (
        subprocess.run(
            [sys.executable, "-m", "eventbus.testing.worker", "--help"],
            capture_output=True,
            check=False,
            env=os.environ,
        ).returncode
        == 0
    )
