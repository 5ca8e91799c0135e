"""evolution-manager webhook ingestion against a bare FastAPI endpoint that only parses JSON, in the same run.

    uv run python bench/evolution_webhooks.py                # 3 rounds of 5 s phases, about 1.5 minutes
    uv run python bench/evolution_webhooks.py --seconds 2 --rounds 1    # smoke run

What runs, each in its own process: a Redis server (AOF on, ``everysec``, as the services run), both targets
under uvicorn with one worker each on a free port, and a load generator per phase. Targets, same load:

- ``bare``: a FastAPI app whose ``POST /webhooks/evolution`` parses the JSON body and answers ``{"status": "ok"}``:
  the floor set by uvicorn, FastAPI and the loopback;
- ``service``: ``python -m evolution_manager`` (LOG_LEVEL=WARNING), its instance loaded from
  ``EVOLUTION_INSTANCES_FILE``. Every request is a distinct ``messages.upsert`` text message (sample 1 of the
  reference, ~800 bytes) with the instance's secret header, so every one is authenticated, looked up in the
  registry, mapped, and durably published with its dedupe key (one Lua call) before the 200.

Each round runs two phases against each target, alternating the targets (and which goes first) so that a busy
minute on a shared machine falls on both; throughput ratios are taken within a round, then the median. The
target's CPU time per request (``/proc``) is printed beside: it does not depend on the neighbours as much.

1. *throughput*: closed loop, ``--connections`` keep-alive connections each sending its next request when the
   previous answer arrives, for ``--seconds``: requests per second the single worker sustains;
2. *paced*: open loop at ``--rate`` requests per second for ``--seconds``: request *i* is due at ``t0 + i/rate``
   and its latency counts from that moment, so waiting for a free connection is counted (no coordinated
   omission).

The load generator speaks HTTP/1.1 over asyncio streams itself: an HTTP client library costs more CPU per
request than the targets do, and on a small machine it would measure itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _noise import Noise, add_options, cpu_seconds, machine_busy
from _tables import Table, render
from servicekit.secretbox import generate_key

INSTANCE = "bench-01"
SECRET = "bench-webhook-secret-0123456789abcdef"
PREFIX = "benchevo"
PATH = "/webhooks/evolution"


def free_port() -> int:
    from eventbus.server import free_port as port

    return port()


# -- targets ------------------------------------------------------------------------------------------------


def serve_bare(port: int) -> None:
    import uvicorn
    from fastapi import FastAPI, Request

    app = FastAPI()

    @app.post(PATH)
    async def receive(request: Request) -> dict[str, str]:
        await request.json()
        return {"status": "ok"}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def start_target(kind: str, port: int, redis_url: str, workdir: Path) -> subprocess.Popen[bytes]:
    env = os.environ | {"LOG_LEVEL": "WARNING"}
    if kind == "bare":
        args = [sys.executable, __file__, "--serve-bare", str(port)]
        ready = f"http://127.0.0.1:{port}/docs"
    else:
        instances = workdir / "instances.json"
        entry = {"name": INSTANCE, "company_id": "cmp_bench", "webhook_secret": SECRET, "api_key": "k"}
        instances.write_text(json.dumps([entry]))
        args = [sys.executable, "-m", "evolution_manager"]
        env |= {
            "REDIS_URL": redis_url,
            "BUS_PREFIX": PREFIX,
            "EVOLUTION_PORT": str(port),
            "EVOLUTION_INSTANCES_FILE": str(instances),
            "EVOLUTION_REFRESH_ON_START": "false",
            "CONSUMER_NAME": "bench",
            # A local run: development mode, and the admin credential the readiness probe below presents.
            "WOLFGANG_ENV": "development",
            "EVOLUTION_ADMIN_TOKEN": "dev-service-token",
            # One instance sends everything here: its per-instance rate limit must not be what is measured
            # (the limiter's cost still is: every webhook is counted).
            "EVOLUTION_WEBHOOK_RATE_PER_SECOND": "1000000",
            "SECRETS_KEYS": generate_key(),  # the service seals the secrets it stores
        }
        ready = f"http://127.0.0.1:{port}/v1/instances/{INSTANCE}"
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(ready, headers={"Authorization": "Bearer dev-service-token"}, timeout=1)
            if answer.status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{kind} did not start on port {port}")


# -- workload -----------------------------------------------------------------------------------------------


def webhook(
    run: str,
    n: int,
    *,
    instance: str = INSTANCE,
    secret: str = SECRET,
    number: str = "5511987654321",
    text: str = "Oi! Quero saber o valor do plano anual.",
    path: str = PATH,
) -> bytes:
    """Sample 1 of shared/reference/evolution-api.md, with a message id of its own (the whole HTTP request;
    ``bench/_system.py`` sends a lead's conversation with it)."""
    envelope = {
        "event": "messages.upsert",
        "instance": instance,
        "data": {
            "key": {"remoteJid": f"{number}@s.whatsapp.net", "fromMe": False, "id": f"BENCH{run}{n:09d}"},
            "pushName": "Maria Souza",
            "status": "DELIVERY_ACK",
            "message": {"conversation": text},
            "messageType": "conversation",
            "messageTimestamp": 1761057639,
            "instanceId": "b0c3f9e8-d813-4d77-b341-0bea1e1210a3",
            "source": "android",
        },
        "destination": "https://crm.example.com/webhooks/evolution",
        "date_time": "2025-10-21T11:40:39.512Z",
        "sender": "5511912345678@s.whatsapp.net",
        "server_url": "https://evolution.example.com",
        "apikey": None,
    }
    body = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        f"x-shared-secret: {secret}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class Connection_:
    """One keep-alive HTTP/1.1 connection, one request in flight."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def send(self, request: bytes) -> int:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await self.reader.readexactly(length)
        return status


async def _connect(port: int, count: int) -> list[Connection_]:
    out = []
    for _ in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        out.append(Connection_(reader, writer))
    return out


def load_main(
    conn: Connection, port: int, run: str, phase: str, seconds: float, rate: float, connections: int
) -> None:
    """One phase against one target: connect and warm up, answer ``ready``, wait for ``go``, then measure."""
    conn.send(asyncio.run(_load(conn, port, run, phase, seconds, rate, connections)))


async def _load(
    conn: Connection, port: int, run: str, phase: str, seconds: float, rate: float, connections: int
) -> dict[str, Any]:
    pool = await _connect(port, connections)
    counter = iter(range(10**9))
    # Warm-up: imports, caches and the first Lua load happen before anything is measured.
    for c in pool:
        for _ in range(5):
            await c.send(webhook(run, next(counter)))
    # Bodies are built before the clock starts: the generator's own work must not bound the result.
    count = int(seconds * (6000 if phase == "closed" else rate))
    bodies = [webhook(run, next(counter)) for _ in range(count)]
    conn.send("ready")
    conn.recv()
    cpu0 = time.process_time()
    try:
        if phase == "closed":
            result = await _closed(pool, bodies, seconds)
        else:
            result = await _paced(pool, bodies, rate)
    finally:
        for c in pool:
            c.writer.close()
    return result | {"loader_cpu": time.process_time() - cpu0}


async def _closed(pool: list[Connection_], bodies: list[bytes], seconds: float) -> dict[str, Any]:
    """Throughput: every connection sends its next request as soon as the previous answer arrives."""
    statuses: dict[int, int] = {}
    feed = iter(bodies)
    stop_at = time.perf_counter() + seconds
    done = 0

    async def worker(c: Connection_) -> None:
        nonlocal done
        for body in feed:
            if time.perf_counter() >= stop_at:
                return
            code = await c.send(body)
            statuses[code] = statuses.get(code, 0) + 1
            done += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in pool))
    return {"throughput": done / (time.perf_counter() - t0), "requests": done, "statuses": statuses}


async def _paced(pool: list[Connection_], bodies: list[bytes], rate: float) -> dict[str, Any]:
    """Open loop: request *i* is due at ``t0 + i/rate`` and its latency counts from then."""
    free: asyncio.Queue[Connection_] = asyncio.Queue()
    for c in pool:
        free.put_nowait(c)
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def one(due: float, body: bytes) -> None:
        c = await free.get()
        try:
            code = await c.send(body)
        finally:
            free.put_nowait(c)
        latencies.append(time.perf_counter() - due)
        statuses[code] = statuses.get(code, 0) + 1

    tasks = []
    t0 = time.perf_counter()
    for i, body in enumerate(bodies):
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due, body)))
    await asyncio.gather(*tasks)
    achieved = len(bodies) / (time.perf_counter() - t0)
    # t0 on CLOCK_MONOTONIC (perf_counter's clock on Linux): another process can tell when request i was due.
    return {
        "latencies": latencies,
        "statuses": statuses,
        "achieved": achieved,
        "requests": len(bodies),
        "t0": t0,
    }


def phase(
    target: subprocess.Popen[bytes],
    port: int,
    kind: str,
    name: str,
    args: argparse.Namespace,
    noise: Noise,
    redis_pid: int,
) -> dict[str, Any]:
    """One phase, measured again when other processes disturbed it (within the noise budget)."""
    for attempt in noise.attempts():
        noise.settle()
        started = time.monotonic()
        result = _phase(target, port, kind, name, args, redis_pid)
        if not noise.again(result["others"], attempt, started):
            return result
    raise AssertionError("unreachable: the last attempt always returns")


def _phase(
    target: subprocess.Popen[bytes], port: int, kind: str, name: str, args: argparse.Namespace, redis_pid: int
) -> dict[str, Any]:
    """Run one phase from a fresh load-generator process. Adds the target's CPU µs per request, and how many
    cores processes other than the target, the generator and Redis used meanwhile (``others``)."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    run = f"{kind[:1]}{name[:1]}{time.monotonic_ns()}"
    loader = ctx.Process(
        target=load_main, args=(child, port, run, name, args.seconds, args.rate, args.connections)
    )
    loader.start()
    assert parent.recv() == "ready"
    target0, redis0, busy0, t0 = (
        cpu_seconds(target.pid),
        cpu_seconds(redis_pid),
        machine_busy(),
        time.monotonic(),
    )
    parent.send("go")
    result: dict[str, Any] = parent.recv()
    target1, redis1, busy1, t1 = (
        cpu_seconds(target.pid),
        cpu_seconds(redis_pid),
        machine_busy(),
        time.monotonic(),
    )
    ours = target1 - target0 + redis1 - redis0 + result["loader_cpu"]
    result["others"] = max(0.0, busy1 - busy0 - ours) / (t1 - t0)
    result["cpu_us"] = (target1 - target0) / result["requests"] * 1e6
    loader.join()
    return result


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each phase")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each running both targets")
    parser.add_argument("--rate", type=float, default=500.0, help="paced phase, requests per second")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections of the generator")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    add_options(parser, budget=120, quiet_wait=15, quiet_below=0.3)
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return

    from eventbus.server import RedisServer

    kinds = ("bare", "service")
    noise = Noise.from_args(args)
    closed: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
    paced: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp) / "redis", appendonly=True) as redis:
        ports = {kind: free_port() for kind in kinds}
        targets = {kind: start_target(kind, ports[kind], redis.url, Path(tmp)) for kind in kinds}
        try:
            # Rounds alternate the targets (and which goes first), so a busy minute on this shared machine
            # lands on both rather than on one: ratios are taken within a round, then the median.
            for n in range(args.rounds):
                order = kinds if n % 2 == 0 else kinds[::-1]
                for name, results in (("closed", closed), ("paced", paced)):
                    for kind in order:
                        results[kind].append(
                            phase(targets[kind], ports[kind], kind, name, args, noise, redis.process.pid)
                        )
        finally:
            for process in targets.values():
                process.terminate()
                process.wait(timeout=15)
    print(render(tables(closed, paced, args), markdown=args.markdown))
    service = closed["service"] + paced["service"]
    ok = sum(r["statuses"].get(200, 0) for r in service)
    sent = sum(sum(r["statuses"].values()) for r in service)
    print(f"service answers: {ok:,} × 200 of {sent:,}; disturbed phases measured again: {noise.repeated}")
    print(
        f"run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    )


def tables(
    closed: dict[str, list[dict[str, Any]]], paced: dict[str, list[dict[str, Any]]], args: argparse.Namespace
) -> list[Table]:
    rounds = len(closed["bare"])
    throughput = Table(
        f"Webhook ingestion, one uvicorn worker, closed loop ({args.connections} connections, "
        f"{args.seconds:g} s × {rounds} rounds, medians)",
        ["target", "req/s", "ratio to bare", "ratios by round", "target CPU µs per request"],
    )
    ratios = [
        s["throughput"] / b["throughput"] for b, s in zip(closed["bare"], closed["service"], strict=True)
    ]
    for kind in ("bare", "service"):
        runs = closed[kind]
        by_round = ", ".join(f"{r:.2f}" for r in ratios) if kind == "service" else ""
        throughput.rows.append(
            [
                kind,
                f"{statistics.median(r['throughput'] for r in runs):,.0f}",
                f"{statistics.median(ratios):.2f}×" if kind == "service" else "1.00×",
                by_round,
                f"{statistics.median(r['cpu_us'] for r in runs):,.0f}",
            ]
        )
    latency = Table(
        f"Latency at a paced {args.rate:g} req/s (open loop, {args.seconds:g} s × {rounds} rounds, all requests)",
        ["target", "achieved req/s", "p50 ms", "p99 ms", "p99 by round", "max ms"],
    )
    for kind in ("bare", "service"):
        runs = paced[kind]
        lat = [x for r in runs for x in r["latencies"]]
        latency.rows.append(
            [
                kind,
                f"{statistics.median(r['achieved'] for r in runs):,.0f}",
                f"{pct(lat, 0.5):.2f}",
                f"{pct(lat, 0.99):.2f}",
                ", ".join(f"{pct(r['latencies'], 0.99):.1f}" for r in runs),
                f"{max(lat) * 1000:.2f}",
            ]
        )
    return [throughput, latency]


if __name__ == "__main__":
    main()
