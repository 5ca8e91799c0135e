"""Event bus throughput on one Redis server against Redis Cluster (1 shard, 3 shards, 3 shards with a replica
each, with and without replica write acknowledgement), in the same run.

    uv run python bench/bus_cluster.py                        # the default run: 20,000 events, 3 rounds, ~6 min
    uv run python bench/bus_cluster.py --events 3000 --rounds 1   # smoke run
    uv run python bench/bus_cluster.py --markdown             # Markdown tables (docs/bench/bus-cluster.md)

Every server is the same ``redis-server`` binary with ``appendonly yes`` / ``appendfsync everysec`` (the
production setting of docker-compose.yml; automatic AOF rewrites are turned off so that no fork lands inside
a measured phase). All deployments are started once; rounds alternate the targets (in a rotated order) and
each run gets a fresh bus prefix, chosen so that the 7 catalog channels spread 3/2/2 over three equal slot
ranges (a channel's keys hash on its tag ``{prefix:channel}``; the production prefix ``wb`` lands 0/4/3).

One run of one target:

1. *publish*: ``--events`` events, event ``i`` on channel ``i mod 7`` (a catalog sample payload per channel),
   published with ``Bus.publish`` by ``--publishers`` child processes with ``--publish-tasks`` concurrent tasks
   each; the rate is events over the time from "go" to the last publisher's last reply;
2. *drain*: one consumer child process (a ``Consumer`` with one ``Subscription`` per channel and a no-op
   handler) handles all of them; the rate is events over the time from "go" to the last handled event. Then
   it is checked: every event handled once, nothing pending, every id marked processed, no dead letters;
3. *serial latency*: one publisher publishes ``--latency-events`` more, one at a time (the write-ack cost
   without queueing).

Redis CPU is ``used_cpu_user + used_cpu_sys`` from ``INFO cpu`` of each node, before and after each phase
(after the drain: once the consumer has stopped and flushed its last acknowledgements), per primary and, for
the replicas, summed. Publishing is what the services do: on one server ``Bus.publish`` pipelines concurrent
publishes (``eventbus.batching``), on a cluster and with write acknowledgement it does not.

The machine is shared: before each run the script waits (within ``--noise-budget``) for it to be quiet,
measures a run that other processes disturbed once more, and discards a run during which the eventbus sources
changed (someone editing them: the rounds would compare different code).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing as mp
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from array import array
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import _noise
import _processed
import _procs
import redis
from _noise import Noise, machine_busy
from _tables import Table, render
from bus_throughput import (
    _expect,
    _fmt,
    _median,
    _version,
    redis_cpu,
    source_fingerprint,
)
from eventbus import Bus, BusSettings, Consumer, Envelope, Subscription, catalog
from eventbus.keys import Keys
from eventbus.server import LocalCluster, RedisServer
from eventbus.testing import samples
from redis.cluster import RedisCluster
from redis.crc import key_slot
from servicekit.logging import configure_logging

CHANNELS = tuple(catalog.CHANNELS)
GROUP = _procs.GROUP
SLOTS = LocalCluster.SLOTS


@dataclass(frozen=True)
class Target:
    key: str
    label: str
    deployment: str  # targets on one deployment share its servers (with their own prefixes)
    primaries: int = 0  # 0: one standalone server
    replicas: int = 0
    ack_replicas: int = 0
    #: On a cluster, the classic PUBLISH under the catalog's name beside the sharded one (BusSettings).
    exact_name: bool = True


TARGETS = (
    Target("one", "one server", "server"),
    Target("c1", "cluster 1 shard", "c1", primaries=1),
    Target("c3", "cluster 3 shards", "c3", primaries=3),
    Target("c3-noexact", "cluster 3 shards, no exact-name PUBLISH", "c3", primaries=3, exact_name=False),
    Target("c3r-ack1", "cluster 3×(1+1), ack 1 replica", "c3r", primaries=3, replicas=1, ack_replicas=1),
    Target("c3r-ack0", "cluster 3×(1+1), ack 0", "c3r", primaries=3, replicas=1, ack_replicas=0),
)
BY_KEY = {t.key: t for t in TARGETS}


# -- child processes ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    url: str
    prefix: str
    ack_replicas: int
    #: Publisher: the event numbers this process publishes; event ``i`` goes to channel ``i mod 7``.
    events: range = range(0)
    tasks: int = 8
    name: str = "c0"
    batch: int = 64
    concurrency: int = 16
    exact_name: bool = True

    @property
    def settings(self) -> BusSettings:
        # The production layout: no live prefix, so the live channels are the catalog names (tagged on a cluster).
        return BusSettings(
            prefix=self.prefix, ack_replicas=self.ack_replicas, exact_name_pubsub=self.exact_name
        )


def _events(numbers: Sequence[int]) -> list[Envelope[Any]]:
    payloads = samples.every_channel()
    return [samples.envelope(payloads[CHANNELS[i % len(CHANNELS)]], source="bench") for i in numbers]


def publisher_main(job: Job, conn: Connection) -> None:
    configure_logging("bench", level="WARNING")
    asyncio.run(_publish(job, conn))


async def _publish(job: Job, conn: Connection) -> None:
    """Commands: ``("go", None)`` publishes this process's share with ``job.tasks`` concurrent tasks,
    ``("serial", n)`` publishes ``n`` more one at a time, ``("stop", None)`` ends."""
    try:
        events = _events(job.events)
        async with Bus.from_url(job.url, source="bench", settings=job.settings) as bus:
            if not await bus.ping():
                raise RuntimeError(f"cannot reach {job.url}")
            conn.send(("ready", None))
            while True:
                command, arg = conn.recv()  # nothing else runs on this loop between phases: blocking is fine
                if command == "stop":
                    break
                if command == "go":
                    report = await _publish_all(bus, events, job.tasks)
                else:
                    report = await _publish_all(bus, _events(range(int(arg))), 1)
                conn.send(("done", report))
    except BaseException as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        raise


async def _publish_all(bus: Bus, events: Sequence[Envelope[Any]], tasks: int) -> dict[str, Any]:
    latencies: array[int] = array("q")
    duplicates = 0
    feed = iter(events)

    async def worker() -> None:
        nonlocal duplicates
        for event in feed:
            start = time.monotonic_ns()
            published = await bus.publish(event)
            latencies.append(time.monotonic_ns() - start)
            duplicates += published.duplicate

    cpu0 = time.process_time()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    return {
        "cpu": time.process_time() - cpu0,
        "end": time.monotonic_ns(),
        "published": len(latencies),
        "duplicates": duplicates,
        "latencies": latencies.tobytes(),
    }


def consumer_main(job: Job, conn: Connection, shared: Any) -> None:
    configure_logging("bench", level="WARNING")  # as the services do; per-event logs are DEBUG either way
    asyncio.run(_consume(job, conn, shared))


async def _consume(job: Job, conn: Connection, shared: Any) -> None:
    try:
        probe = _procs.Probe(shared, latency=False)
        seen: set[str] = set()
        per_channel: Counter[str] = Counter()

        async def handler(event: Envelope[Any]) -> None:
            seen.add(event.id)
            per_channel[event.type] += 1
            probe.handled(0)

        async with Bus.from_url(job.url, source="bench", settings=job.settings) as bus:
            if not await bus.ping():
                raise RuntimeError(f"cannot reach {job.url}")
            for channel in CHANNELS:
                await _procs._group(bus.redis, bus.keys.stream(channel))  # type: ignore[arg-type]
                catalog.envelope_model(channel, 1)  # built once per process; not part of an event's cost
            consumer = Consumer(
                bus,
                GROUP,
                [Subscription(c, handler, concurrency=job.concurrency) for c in CHANNELS],
                name=job.name,
                batch_size=job.batch,
                block=timedelta(milliseconds=100),
            )
            conn.send(("ready", None))
            conn.recv()  # go
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()

            def on_stop() -> None:
                conn.recv()
                loop.remove_reader(conn.fileno())
                stop.set()

            loop.add_reader(conn.fileno(), on_stop)
            cpu0 = time.process_time()
            task = asyncio.create_task(consumer.run())
            await stop.wait()
            consumer.stop()
            await task  # the last batch's acknowledgements are written on the way out: part of the work
            report = {
                "cpu": time.process_time() - cpu0,
                "handled": probe.count,
                "distinct": len(seen),
                "per_channel": dict(per_channel),
            }
            conn.send(("done", report))
    except BaseException as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        raise


# -- deployments ----------------------------------------------------------------------------------------------


@dataclass
class Deployment:
    name: str
    url: str
    primaries: list[int]  # ports, in slot-range order (shard 0 serves the lowest slots)
    replicas: list[int]
    handle: RedisServer | LocalCluster
    clients: dict[int, redis.Redis] = field(default_factory=dict)

    @classmethod
    def start(cls, name: str, target: Target, root: Path) -> Deployment:
        if target.primaries == 0:
            server = RedisServer(root / name, appendonly=True).start()
            deployment = cls(name, server.url, [server.port], [], server)
        else:
            cluster = LocalCluster(
                root / name, primaries=target.primaries, replicas=target.replicas, appendonly=True
            ).start()
            nodes = [n.port for n in cluster.nodes]
            deployment = cls(name, cluster.url, nodes[: target.primaries], nodes[target.primaries :], cluster)
        for port in deployment.primaries + deployment.replicas:
            client = redis.Redis(port=port)
            # An AOF rewrite forks a copy of the dataset: never inside a measured phase.
            client.config_set("auto-aof-rewrite-percentage", 0)
            deployment.clients[port] = client
        for port in deployment.replicas:
            role = deployment.clients[port].info("replication")["role"]
            assert role == "slave", f"{name}: node {port} is a {role}, expected a replica"
        return deployment

    @property
    def cluster(self) -> bool:
        return isinstance(self.handle, LocalCluster)

    def checker(self) -> redis.Redis | RedisCluster:
        if self.cluster:
            return RedisCluster(host="127.0.0.1", port=self.primaries[0])
        return self.clients[self.primaries[0]]

    def shard_of(self, key: str) -> int:
        if isinstance(self.handle, LocalCluster):
            return self.primaries.index(self.handle.primary_for(key).port)
        return 0

    def cpu(self) -> dict[int, float]:
        return {port: redis_cpu(client) for port, client in self.clients.items()}

    def stop(self) -> None:
        for client in self.clients.values():
            client.close()
        self.handle.stop()


def spread(prefix: str, shards: int) -> list[int]:
    """How many catalog channels land on each of ``shards`` equal slot ranges (as LocalCluster assigns them)."""
    keys = Keys(prefix)
    counts = [0] * shards
    for channel in CHANNELS:
        slot = key_slot(keys.stream(channel).encode())
        counts[next(i for i in range(shards) if slot < (i + 1) * SLOTS // shards)] += 1
    return counts


def balanced_prefixes() -> Iterator[str]:
    """``wb0``, ``wb1``, … keeping those whose channels spread as evenly as 7 can over 3 shards (3/2/2)."""
    for n in itertools.count():
        if sorted(spread(f"wb{n}", 3)) == [2, 2, 3]:
            yield f"wb{n}"


# -- one run --------------------------------------------------------------------------------------------------


@dataclass
class Phase:
    events: int
    seconds: float
    primary_cpu: list[float]  # seconds, per shard
    replica_cpu: float  # seconds, all replicas
    client_cpu: float  # seconds, the child processes
    others: float  # busy cores, on average, neither ours nor Redis's (other sessions, steal)
    latencies: list[int] = field(default_factory=list)  # ns, sorted

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    def per_1k(self, cpu_seconds: float, events: int | None = None) -> float:
        """CPU milliseconds per 1,000 events."""
        return cpu_seconds * 1e6 / (events or self.events)

    def percentile(self, q: float) -> float | None:
        if not self.latencies:
            return None
        return self.latencies[min(len(self.latencies) - 1, int(q * len(self.latencies)))] / 1e6


@dataclass
class Run:
    prefix: str
    shard_events: list[int]  # events whose channel lives on each shard
    shard_channels: list[int]
    publish: Phase
    drain: Phase
    serial: Phase | None


@dataclass
class Context:
    args: argparse.Namespace
    deployments: dict[str, Deployment]
    noise: Noise
    runs: dict[str, list[Run]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    #: The eventbus sources measured: a run that sees other sources (someone editing) is discarded.
    source: str = ""
    #: A fresh prefix for every run (one that spreads the channels 3/2/2 over three shards).
    prefixes: Iterator[str] = field(default_factory=balanced_prefixes)


def _latencies(reports: Sequence[dict[str, Any]]) -> list[int]:
    values: array[int] = array("q")
    for report in reports:
        values.frombytes(report["latencies"])
    return sorted(values)


def _phase(
    deployment: Deployment,
    before: dict[int, float],
    after: dict[int, float],
    *,
    events: int,
    seconds: float,
    client_cpu: float,
    busy: float,
    wall: float,
    latencies: list[int] | None = None,
) -> Phase:
    delta = {port: after[port] - before[port] for port in before}
    redis_total = sum(delta.values())
    return Phase(
        events=events,
        seconds=seconds,
        primary_cpu=[delta[p] for p in deployment.primaries],
        replica_cpu=sum(delta[p] for p in deployment.replicas),
        client_cpu=client_cpu,
        others=max(0.0, busy - client_cpu - redis_total) / wall,
        latencies=latencies or [],
    )


def run_once(ctx: Context, target: Target, prefix: str) -> Run:
    args = ctx.args
    deployment = ctx.deployments[target.deployment]
    n = args.events
    spawn = mp.get_context("spawn")
    children: list[Any] = []
    try:
        publishers: list[tuple[Connection, Any]] = []
        for p in range(args.publishers):
            parent_end, child_end = spawn.Pipe()
            job = Job(
                deployment.url,
                prefix,
                target.ack_replicas,
                events=range(p, n, args.publishers),
                tasks=args.publish_tasks,
                name=f"p{p}",
                exact_name=target.exact_name,
            )
            proc = spawn.Process(target=publisher_main, args=(job, child_end), daemon=True)
            proc.start()
            children.append(proc)
            publishers.append((parent_end, proc))
        parent_end, child_end = spawn.Pipe()
        shared = spawn.RawArray("q", 2)
        job = Job(
            deployment.url,
            prefix,
            target.ack_replicas,
            batch=args.batch,
            concurrency=args.concurrency,
            exact_name=target.exact_name,
        )
        proc = spawn.Process(target=consumer_main, args=(job, child_end, shared), daemon=True)
        proc.start()
        children.append(proc)
        consumer = (parent_end, proc)
        for conn, proc in [*publishers, consumer]:
            _expect(conn, "ready", 120, proc)

        # 1. publish
        cpu0, busy0, own0 = deployment.cpu(), machine_busy(), time.process_time()
        t0 = time.monotonic_ns()
        for conn, _ in publishers:
            conn.send(("go", None))
        reports = [_expect(conn, "done", 60 + n / 100, proc) for conn, proc in publishers]
        t1 = time.monotonic_ns()
        cpu1, busy1, own1 = deployment.cpu(), machine_busy(), time.process_time()
        published = sum(r["published"] for r in reports)
        duplicates = sum(r["duplicates"] for r in reports)
        if published != n or duplicates:
            ctx.failures.append(f"{target.key}/{prefix}: published {published}/{n}, {duplicates} duplicates")
        publish = _phase(
            deployment,
            cpu0,
            cpu1,
            events=n,
            seconds=(max(r["end"] for r in reports) - t0) / 1e9,
            client_cpu=sum(r["cpu"] for r in reports) + (own1 - own0),
            busy=busy1 - busy0,
            wall=(t1 - t0) / 1e9,
            latencies=_latencies(reports),
        )

        # 2. drain
        conn, proc = consumer
        cpu0, busy0, own0 = deployment.cpu(), machine_busy(), time.process_time()
        t0 = time.monotonic_ns()
        conn.send("go")
        deadline = time.monotonic() + 60 + n / 200
        while shared[0] < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{shared[0]}/{n} events handled before the deadline")
            if proc.exitcode is not None:
                _expect(conn, "done", 1)  # raises with the child's error
                raise RuntimeError("the consumer exited early")
            time.sleep(0.002)
        t_done = shared[1]
        conn.send("stop")
        report = _expect(conn, "done", 60, proc)
        t1 = time.monotonic_ns()
        cpu1, busy1, own1 = deployment.cpu(), machine_busy(), time.process_time()
        drain = _phase(
            deployment,
            cpu0,
            cpu1,
            events=n,
            seconds=(t_done - t0) / 1e9,
            client_cpu=report["cpu"] + (own1 - own0),
            busy=busy1 - busy0,
            wall=(t1 - t0) / 1e9,
        )
        keys = Keys(prefix)
        expected = Counter(CHANNELS[i % len(CHANNELS)] for i in range(n))
        _check(ctx, deployment, target, keys, expected, report)

        # 3. serial publishes: the acknowledgement's latency without queueing behind other publishes
        serial = None
        if args.latency_events:
            conn, proc = publishers[0]
            cpu0 = deployment.cpu()
            t0 = time.monotonic_ns()
            conn.send(("serial", args.latency_events))
            report = _expect(conn, "done", 60 + args.latency_events / 50, proc)
            cpu1 = deployment.cpu()
            serial = _phase(
                deployment,
                cpu0,
                cpu1,
                events=args.latency_events,
                seconds=(report["end"] - t0) / 1e9,
                client_cpu=report["cpu"],
                busy=0.0,
                wall=(report["end"] - t0) / 1e9,
                latencies=_latencies([report]),
            )
        for conn, _ in publishers:
            conn.send(("stop", None))
        for proc in children:
            proc.join(30)

        shards = len(deployment.primaries)
        shard_events, shard_channels = [0] * shards, [0] * shards
        for channel, count in expected.items():
            shard = deployment.shard_of(keys.stream(channel))
            shard_events[shard] += count
            shard_channels[shard] += 1
        return Run(prefix, shard_events, shard_channels, publish, drain, serial)
    finally:
        for proc in children:
            if proc.is_alive():
                proc.kill()
                proc.join(5)


def _check(
    ctx: Context,
    deployment: Deployment,
    target: Target,
    keys: Keys,
    expected: Counter[str],
    report: dict[str, Any],
) -> None:
    """Every event handled once, acknowledged and marked processed; no dead letters."""
    where = f"{target.key}/{keys.prefix}"
    n = sum(expected.values())
    if report["handled"] != n or report["distinct"] != n:
        ctx.failures.append(f"{where}: handled {report['handled']} ({report['distinct']} distinct) of {n}")
    if report["per_channel"] != dict(expected):
        ctx.failures.append(
            f"{where}: handled per channel {report['per_channel']}, expected {dict(expected)}"
        )
    client = deployment.checker()
    for channel, count in expected.items():
        stream = keys.stream(channel)
        checks = {
            "stream entries": (int(client.xlen(stream)), count),
            "pending": (int(client.xpending(stream, GROUP)["pending"]), 0),
            "processed ids": (_processed.marks(client, keys, channel, GROUP), count),
            "dead letters": (int(client.xlen(keys.dead_letters(channel, GROUP))), 0),
        }
        for what, (got, want) in checks.items():
            if got != want:
                ctx.failures.append(f"{where} {channel}: {what} {got}, expected {want}")
    if client is not deployment.clients.get(deployment.primaries[0]):
        client.close()


# -- the whole benchmark --------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    targets = [BY_KEY[k] for k in args.targets.split(",")] if args.targets else list(TARGETS)
    load_before = os.getloadavg()
    started = time.monotonic()
    source = source_fingerprint()
    print(f"load average before the run: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}")
    print(parameters(args))
    print(f"eventbus sources: {source}")
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        deployments: dict[str, Deployment] = {}
        try:
            for target in targets:
                if target.deployment not in deployments:
                    deployments[target.deployment] = Deployment.start(target.deployment, target, Path(tmp))
            first = next(iter(deployments.values()))
            version = first.clients[first.primaries[0]].info("server")["redis_version"]
            ctx = Context(args, deployments, noise=Noise.from_args(args), source=source)
            for round_no in range(args.rounds):
                shift = round_no % len(targets)
                for target in targets[shift:] + targets[:shift]:
                    measure(ctx, target, f"round {round_no + 1}/{args.rounds}  {target.label}")
        finally:
            for deployment in deployments.values():
                deployment.stop()
    minutes = (time.monotonic() - started) / 60
    tables = report(ctx, targets)
    print()
    print(environment(ctx, version, minutes, source, load_before, os.getloadavg()))
    print(render(tables, markdown=args.markdown))
    for failure in ctx.failures:
        print(f"FAILURE: {failure}")
    if ctx.failures:
        sys.exit(1)


def measure(ctx: Context, target: Target, label: str) -> None:
    """One round of one target. Other sessions share this machine: wait for it to be quiet first, and measure
    again a run they disturbed, within a time budget (``--noise-budget``) for the whole benchmark."""
    noise = ctx.noise
    for attempt in noise.attempts():
        noise.settle()
        started = time.monotonic()
        try:
            before = source_fingerprint()
            run = run_once(ctx, target, next(ctx.prefixes))
            after = source_fingerprint()
        except Exception as exc:  # one failed run is reported, not fatal
            ctx.failures.append(f"{label.strip()}: {exc}")
            print(f"{label:<52} FAILED: {exc}", flush=True)
            return
        if before != ctx.source or after != ctx.source:
            ctx.failures.append(f"{label.strip()}: eventbus sources {ctx.source} → {after}: run discarded")
            print(f"{label:<52} DISCARDED: the eventbus sources changed ({ctx.source} → {after})", flush=True)
            return
        shards = "/".join(map(str, run.shard_channels))
        print(
            f"{label:<52} prefix {run.prefix:<7} channels {shards:<7} publish {run.publish.rate:>7,.0f} ev/s"
            f"  drain {run.drain.rate:>7,.0f} ev/s  others {run.publish.others:.2f}/{run.drain.others:.2f} cores",
            flush=True,
        )
        if not noise.again(max(run.publish.others, run.drain.others), attempt, started):
            break
    ctx.runs.setdefault(target.key, []).append(run)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("--events", type=int, default=20_000, help="events per run, over the 7 channels")
    p.add_argument("--rounds", type=int, default=3, help="rounds, targets alternated; medians are reported")
    p.add_argument("--publishers", type=int, default=2, help="publisher processes")
    p.add_argument("--publish-tasks", type=int, default=8, help="concurrent publishing tasks per process")
    p.add_argument("--batch", type=int, default=64, help="consumer batch size (entries per read)")
    p.add_argument("--concurrency", type=int, default=16, help="handlers in flight per subscription")
    p.add_argument("--latency-events", type=int, default=1000, help="serial publishes per run (0: none)")
    p.add_argument("--targets", default="", help=f"comma-separated subset of {','.join(BY_KEY)}")
    p.add_argument("--markdown", action="store_true", help="print Markdown tables")
    _noise.add_options(p, budget=600.0, quiet_wait=20.0, quiet_below=0.3)
    args = p.parse_args(argv)
    unknown = set(args.targets.split(",")) - set(BY_KEY) if args.targets else set()
    if unknown:
        p.error(f"unknown targets: {', '.join(sorted(unknown))}")
    return args


def parameters(args: argparse.Namespace) -> str:
    return (
        f"parameters: events={args.events:,} rounds={args.rounds} publishers={args.publishers}"
        f"×{args.publish_tasks} tasks, consumer batch={args.batch} concurrency={args.concurrency}/channel,"
        f" serial publishes={args.latency_events:,}"
    )


def environment(
    ctx: Context,
    server: str,
    minutes: float,
    source: str,
    before: tuple[float, float, float],
    after: tuple[float, float, float],
) -> str:
    others = [phase.others for runs in ctx.runs.values() for r in runs for phase in (r.publish, r.drain)]
    load = f"median {statistics.median(others):.2f}, max {max(others):.2f}" if others else "-"
    cpu = "unknown CPU"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    command = "uv run python bench/bus_cluster.py" + "".join(f" {shlex.quote(a)}" for a in sys.argv[1:])
    prefixes = sorted({(r.prefix, tuple(r.shard_channels)) for runs in ctx.runs.values() for r in runs})
    placement = ", ".join(f"{p} {'/'.join(map(str, s))}" for p, s in prefixes if len(s) == 3)
    return (
        f"- command: `{command}`; run time {minutes:.1f} min\n"
        f"- machine: {os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}\n"
        f"- redis-server {server}, appendonly yes, appendfsync everysec, no automatic AOF rewrite; "
        f"redis-py {_version('redis')}, hiredis {_version('hiredis')}\n"
        f"- eventbus sources: {source}\n"
        f"- load average before {before[0]:.2f} / after {after[0]:.2f} (1 min); other processes during the "
        f"measured phases, in busy cores: {load}; runs measured again because others used more than "
        f"{ctx.args.busy_above} cores: {ctx.noise.repeated}\n"
        f"- channels per shard (3-shard targets), by prefix: {placement or '-'}\n"
        f"- {parameters(ctx.args)}\n"
    )


# -- the report -----------------------------------------------------------------------------------------------


def _ratio(value: float | None, base: float | None) -> str:
    return "-" if value is None or not base else f"{value / base:.2f}×"


def report(ctx: Context, targets: Sequence[Target]) -> list[Table]:
    runs = {t.key: ctx.runs[t.key] for t in targets if ctx.runs.get(t.key)}
    args = ctx.args

    def med(key: str, value: Any) -> float | None:
        return _median([value(r) for r in runs.get(key, [])])

    def spread_of(key: str, value: Any) -> str:
        values = [value(r) for r in runs.get(key, [])]
        return f"{min(values):,.0f}–{max(values):,.0f}" if len(values) > 1 else "-"

    def pub_rate(r: Run) -> float:
        return r.publish.rate

    def drain_rate(r: Run) -> float:
        return r.drain.rate

    base_pub, base_drain = med("one", pub_rate), med("one", drain_rate)
    main_table = Table(
        f"Throughput, {args.events:,} events over the 7 channels (median of {args.rounds} rounds; Redis CPU is "
        "ms per 1,000 events of the whole run: on the busiest primary, and summed over the primaries)",
        [
            "target",
            "publish ev/s",
            "range",
            "× one server",
            "drain ev/s",
            "range",
            "× one server",
            "publish CPU busiest shard",
            "publish CPU all shards",
            "drain CPU busiest shard",
            "drain CPU all shards",
            "replica CPU ms/1k (publish + drain)",
        ],
    )
    for t in targets:
        if t.key not in runs:
            continue
        main_table.rows.append(
            [
                t.label,
                _fmt(med(t.key, pub_rate)),
                spread_of(t.key, pub_rate),
                _ratio(med(t.key, pub_rate), base_pub),
                _fmt(med(t.key, drain_rate)),
                spread_of(t.key, drain_rate),
                _ratio(med(t.key, drain_rate), base_drain),
                _fmt(med(t.key, lambda r: r.publish.per_1k(max(r.publish.primary_cpu))), ".0f"),
                _fmt(med(t.key, lambda r: r.publish.per_1k(sum(r.publish.primary_cpu))), ".0f"),
                _fmt(med(t.key, lambda r: r.drain.per_1k(max(r.drain.primary_cpu))), ".0f"),
                _fmt(med(t.key, lambda r: r.drain.per_1k(sum(r.drain.primary_cpu))), ".0f"),
                _fmt(
                    med(t.key, lambda r: r.publish.per_1k(r.publish.replica_cpu + r.drain.replica_cpu)), ".0f"
                )
                if t.replicas
                else "-",
            ]
        )

    def own(r: Run, shard: int) -> float:
        """Publish + drain CPU of one primary per 1,000 of the events whose channel it serves."""
        cpu = r.publish.primary_cpu[shard] + r.drain.primary_cpu[shard]
        return cpu * 1e6 / r.shard_events[shard] if r.shard_events[shard] else float("nan")

    per_shard = Table(
        "Per shard: Redis CPU per 1,000 of the shard's own events (publish + drain by one group), and what one "
        "shard's core could take at that cost (1,000 / ms × 1,000)",
        [
            "target",
            "channels per shard",
            "events per shard",
            "ms per 1k own events, each shard",
            "busiest ms/1k",
            "ev/s per shard core",
        ],
    )
    for t in targets:
        if t.key not in runs:
            continue
        rs = runs[t.key]
        shards = len(rs[0].shard_events)
        each = [_median([own(r, s) for r in rs if r.shard_events[s]]) for s in range(shards)]
        busiest = _median([max(own(r, s) for s in range(shards) if r.shard_events[s]) for r in rs])
        per_shard.rows.append(
            [
                t.label,
                "/".join(map(str, rs[-1].shard_channels)),
                "/".join(f"{e:,}" for e in rs[-1].shard_events),
                " / ".join(_fmt(v, ".0f") for v in each),
                _fmt(busiest, ".0f"),
                _fmt(1e6 / busiest if busiest else None),
            ]
        )

    clients = Table(
        "Clients and latency (median of rounds): client CPU per event, publish latency under load "
        f"({args.publishers}×{args.publish_tasks} in flight) and serial (one at a time, {args.latency_events:,})",
        [
            "target",
            "publisher CPU µs/event",
            "consumer CPU µs/event",
            "loaded p50 ms",
            "loaded p99 ms",
            "serial p50 ms",
            "serial p99 ms",
            "serial Redis CPU ms/1k",
        ],
    )
    for t in targets:
        if t.key not in runs:
            continue
        clients.rows.append(
            [
                t.label,
                _fmt(med(t.key, lambda r: r.publish.client_cpu / r.publish.events * 1e6), ".0f"),
                _fmt(med(t.key, lambda r: r.drain.client_cpu / r.drain.events * 1e6), ".0f"),
                _fmt(med(t.key, lambda r: r.publish.percentile(0.5)), ".2f"),
                _fmt(med(t.key, lambda r: r.publish.percentile(0.99)), ".2f"),
                _fmt(med(t.key, lambda r: r.serial.percentile(0.5) if r.serial else None), ".2f"),
                _fmt(med(t.key, lambda r: r.serial.percentile(0.99) if r.serial else None), ".2f"),
                _fmt(
                    med(t.key, lambda r: r.serial.per_1k(sum(r.serial.primary_cpu)) if r.serial else None),
                    ".0f",
                ),
            ]
        )

    tables = [main_table, per_shard, clients]
    if "c3r-ack1" in runs and "c3r-ack0" in runs:
        ack = Table(
            "Write acknowledgement on 3×(1+1): ack_replicas=1 against 0, same cluster, same run (median of rounds)",
            ["measure", "ack 0", "ack 1 replica", "ack 1 / ack 0"],
        )
        measures: list[tuple[str, Any, str]] = [
            ("publish ev/s", pub_rate, ",.0f"),
            ("drain ev/s", drain_rate, ",.0f"),
            ("publish p50 ms, loaded", lambda r: r.publish.percentile(0.5), ".2f"),
            ("publish p99 ms, loaded", lambda r: r.publish.percentile(0.99), ".2f"),
            ("publish p50 ms, serial", lambda r: r.serial.percentile(0.5) if r.serial else None, ".2f"),
            ("publish p99 ms, serial", lambda r: r.serial.percentile(0.99) if r.serial else None, ".2f"),
            ("publisher CPU µs/event", lambda r: r.publish.client_cpu / r.publish.events * 1e6, ".0f"),
            ("consumer CPU µs/event", lambda r: r.drain.client_cpu / r.drain.events * 1e6, ".0f"),
            ("primaries CPU ms/1k (publish + drain)", lambda r: r.publish.per_1k(
                sum(r.publish.primary_cpu) + sum(r.drain.primary_cpu)), ".0f"),
            ("replicas CPU ms/1k (publish + drain)", lambda r: r.publish.per_1k(
                r.publish.replica_cpu + r.drain.replica_cpu), ".0f"),
        ]  # fmt: skip
        for name, value, spec in measures:
            zero, one = med("c3r-ack0", value), med("c3r-ack1", value)
            ack.rows.append([name, _fmt(zero, spec), _fmt(one, spec), _ratio(one, zero)])
        tables.append(ack)
    return tables


if __name__ == "__main__":
    main()
