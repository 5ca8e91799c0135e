"""evolution-manager webhook ingestion against a bare FastAPI endpoint that only parses JSON, in the same run.

    uv run python bench/evolution_webhooks.py                # 10 s per phase and target, about 1 minute
    uv run python bench/evolution_webhooks.py --seconds 3    # smoke run

What runs, each in its own process: a Redis server (AOF on, ``everysec``, as the services run), the target under
uvicorn with one worker on a free port, and the load generator. Targets, one after the other, same load:

- ``bare``: a FastAPI app whose ``POST /webhooks/evolution`` parses the JSON body and answers ``{"status": "ok"}``:
  the floor set by uvicorn, FastAPI and the loopback;
- ``service``: ``python -m evolution_manager`` (LOG_LEVEL=WARNING), its instance loaded from
  ``EVOLUTION_INSTANCES_FILE``. Every request is a distinct ``messages.upsert`` text message (sample 1 of the
  reference, ~800 bytes) with the instance's secret header, so every one is authenticated, looked up in the
  registry, mapped, and durably published with its dedupe key (one Lua call) before the 200.

Two phases per target:

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
from _tables import Table, render

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


def webhook(run: str, n: int) -> bytes:
    """Sample 1 of shared/reference/evolution-api.md, with a message id of its own."""
    envelope = {
        "event": "messages.upsert",
        "instance": INSTANCE,
        "data": {
            "key": {"remoteJid": "5511987654321@s.whatsapp.net", "fromMe": False, "id": f"BENCH{run}{n:09d}"},
            "pushName": "Maria Souza",
            "status": "DELIVERY_ACK",
            "message": {"conversation": "Oi! Quero saber o valor do plano anual."},
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
        f"POST {PATH} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        f"x-shared-secret: {SECRET}\r\nContent-Length: {len(body)}\r\n\r\n"
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


def load_main(conn: Connection, port: int, run: str, seconds: float, rate: float, connections: int) -> None:
    conn.send(asyncio.run(_load(port, run, seconds, rate, connections)))


async def _load(port: int, run: str, seconds: float, rate: float, connections: int) -> dict[str, Any]:
    pool = await _connect(port, connections)
    counter = iter(range(10**9))
    statuses: dict[int, int] = {}

    # Warm-up: imports, caches and the first Lua load happen before anything is measured.
    for c in pool:
        for _ in range(20):
            await c.send(webhook(run, next(counter)))

    # 1. throughput, closed loop
    # Bodies are built before the clock starts: the generator's own work must not bound the result.
    bodies = [webhook(run, next(counter)) for _ in range(int(seconds * 6000))]
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
    throughput = done / (time.perf_counter() - t0)

    # 2. paced, open loop
    total = int(seconds * rate)
    paced = [webhook(run, next(counter)) for _ in range(total)]
    free: asyncio.Queue[Connection_] = asyncio.Queue()
    for c in pool:
        free.put_nowait(c)
    latencies: list[float] = []
    paced_statuses: dict[int, int] = {}

    async def one(due: float, body: bytes) -> None:
        c = await free.get()
        try:
            code = await c.send(body)
        finally:
            free.put_nowait(c)
        latencies.append(time.perf_counter() - due)
        paced_statuses[code] = paced_statuses.get(code, 0) + 1

    tasks = []
    t0 = time.perf_counter()
    for i, body in enumerate(paced):
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due, body)))
    await asyncio.gather(*tasks)
    achieved = total / (time.perf_counter() - t0)
    for c in pool:
        c.writer.close()
    return {
        "throughput": throughput,
        "statuses": statuses,
        "latencies": latencies,
        "paced_statuses": paced_statuses,
        "achieved": achieved,
    }


def measure(kind: str, redis_url: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    port = free_port()
    process = start_target(kind, port, redis_url, workdir)
    try:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        run = f"{kind[:1]}{int(time.time())}"
        loader = ctx.Process(
            target=load_main, args=(child, port, run, args.seconds, args.rate, args.connections)
        )
        loader.start()
        result: dict[str, Any] = parent.recv()
        loader.join()
        return result
    finally:
        process.terminate()
        process.wait(timeout=15)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--rate", type=float, default=500.0, help="paced phase, requests per second")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections of the generator")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return

    from eventbus.server import RedisServer

    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp) / "redis", appendonly=True) as redis:
        results = {kind: measure(kind, redis.url, args, Path(tmp)) for kind in ("bare", "service")}
    bare, service = results["bare"], results["service"]
    ok = service["statuses"].get(200, 0) + service["paced_statuses"].get(200, 0)
    sent = sum(service["statuses"].values()) + sum(service["paced_statuses"].values())
    throughput = Table(
        f"Webhook ingestion, one uvicorn worker, closed loop ({args.connections} connections, {args.seconds:g} s)",
        ["target", "req/s", "ratio to bare"],
    )
    for kind in ("bare", "service"):
        r = results[kind]
        throughput.rows.append(
            [kind, f"{r['throughput']:,.0f}", f"{r['throughput'] / bare['throughput']:.2f}×"]
        )
    latency = Table(
        f"Latency at a paced {args.rate:g} req/s (open loop, {args.seconds:g} s)",
        ["target", "achieved req/s", "p50 ms", "p99 ms", "max ms"],
    )
    for kind in ("bare", "service"):
        r = results[kind]
        lat = r["latencies"]
        latency.rows.append(
            [
                kind,
                f"{r['achieved']:,.0f}",
                f"{pct(lat, 0.5):.2f}",
                f"{pct(lat, 0.99):.2f}",
                f"{max(lat) * 1000:.2f}",
            ]
        )
    print(render([throughput, latency], markdown=args.markdown))
    print(
        f"service answers: {ok:,} × 200 of {sent:,}; statuses {service['statuses']} / {service['paced_statuses']}"
    )
    print(
        f"run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    )


if __name__ == "__main__":
    main()
