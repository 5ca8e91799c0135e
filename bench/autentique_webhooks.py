"""autentique-service webhook handling latency at a fixed rate, against a bare FastAPI endpoint in the same run.

    uv run python bench/autentique_webhooks.py                 # 200 req/s for 20 s per target, about 1.5 minutes
    uv run python bench/autentique_webhooks.py --seconds 5     # smoke run

What runs, each in its own process: a Redis server (AOF on, ``everysec``, as the services run), the target under
uvicorn with one worker, and the load generator. Targets, one after the other, same load:

- ``bare``: a FastAPI app whose ``POST /webhooks/autentique`` reads the body and answers ``{"status": "ok"}``:
  the floor set by uvicorn, FastAPI and the HTTP client;
- ``service``: ``python -m autentique_service`` (LOG_LEVEL=WARNING), on contracts seeded in its Redis keys, two
  signers each. Every request is a distinct, correctly signed ``signature.accepted``; every second one completes
  its contract, so half of them also publish ``contract.signed`` (HMAC check, parse, replay check, HSETNX
  transaction, and for those, the bus's Lua publish and the contract's mark).

The load is open-loop: request *i* is due at ``t0 + i / rate`` whether or not earlier ones have answered, so a
slow answer cannot lower the offered load, and latency runs from when a request was due (not when it left) to
the end of its answer: a late send counts (no coordinated omission). The load generator is a small keep-alive
HTTP/1.1 client on asyncio streams (see ``HttpConnection``); the baseline's numbers include the same client and
loopback costs, hence the ratio column. ``CPU ms/req`` is the target process's user+system time over the run
(warm-up included) divided by its requests.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
from starlette.requests import Request

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _noise import cpu_seconds
from _tables import Table, render

SECRET = "bench-webhook-secret"
PREFIX = "benchaut"
COMPANY = "cmp_bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- targets ------------------------------------------------------------------------------------------------


def serve_bare(port: int) -> None:
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/webhooks/autentique")
    async def receive(request: Request) -> dict[str, str]:
        await request.body()
        return {"status": "ok"}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def start_target(kind: str, port: int, redis_url: str) -> subprocess.Popen[bytes]:
    env = os.environ | {"LOG_LEVEL": "WARNING"}
    if kind == "bare":
        args = [sys.executable, __file__, "--serve-bare", str(port)]
    else:
        args = [sys.executable, "-m", "autentique_service"]
        env |= {
            "REDIS_URL": redis_url,
            "BUS_PREFIX": PREFIX,
            "AUTENTIQUE_PORT": str(port),
            "AUTENTIQUE_WEBHOOK_SECRET": SECRET,
            "WOLFGANG_ENV": "development",  # a local run: the bench's own secret, no Autentique account
        }
    log = open(os.environ.get("BENCH_TARGET_LOG", os.devnull), "ab")  # noqa: SIM115 - lives as long as the process
    process = subprocess.Popen(args, env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.post(f"http://127.0.0.1:{port}/webhooks/autentique", content=b"{}", timeout=1)
            return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{kind} did not start on port {port}")


# -- workload -----------------------------------------------------------------------------------------------


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def webhook(document_id: str, public_id: str) -> tuple[bytes, str]:
    event_id = str(uuid.uuid4())
    data = {
        "public_id": public_id,
        "object": "signature",
        "document": document_id,
        "action": "Sign",
        "viewed": _stamp(),
        "signed": _stamp(),
        "rejected": None,
        "events": [],
    }
    envelope = {
        "id": event_id,
        "object": "webhook",
        "name": "bench",
        "format": "json",
        "url": "http://bench",
        "event": {
            "id": event_id,
            "object": "event",
            "organization": 1,
            "type": "signature.accepted",
            "data": data,
            "previous_attributes": [],
            "created_at": _stamp(),
        },
    }
    body = json.dumps(envelope, separators=(",", ":")).encode()
    return body, hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


async def seed(redis_url: str, contracts: int) -> list[tuple[bytes, str]]:
    """Contracts with documents in the service's keys, and one signed webhook per signer (signer 0 first)."""
    from autentique_service.contracts import Contracts, new_contract_id
    from autentique_service.models import ContractCreate, StoredSigner
    from eventbus import Bus, BusSettings

    first, second = [], []
    async with Bus.from_url(redis_url, source="bench", settings=BusSettings(prefix=PREFIX)) as bus:
        store = Contracts(bus)
        signers = [
            {"name": "Maria", "email": "maria@example.com", "delivery": "email"},
            {"name": "Ana", "phone": "+5521998765432", "delivery": "whatsapp"},
        ]
        for n in range(contracts):
            request = ContractCreate.model_validate(
                {
                    "deal_id": f"deal_{n}_{uuid.uuid4().hex[:6]}",
                    "company_id": COMPANY,
                    "value": 15000,
                    "signers": signers,
                }
            )
            contract_id = new_contract_id()
            await store.reserve(request, contract_id=contract_id, created_at=_stamp(), replacing=None)
            contract = await store.get(contract_id)
            assert contract is not None
            document_id = uuid.uuid4().hex + uuid.uuid4().hex[:18]
            ids = [str(uuid.uuid4()), str(uuid.uuid4())]
            stored = [StoredSigner(**s, public_id=p) for s, p in zip(signers, ids, strict=True)]  # type: ignore[arg-type]
            await store.attach_document(contract, document_id, stored, {})
            first.append(webhook(document_id, ids[0]))
            second.append(webhook(document_id, ids[1]))
    # Interleaved: contract n's first signature, then contract n-1's second, which completes it and publishes.
    out: list[tuple[bytes, str]] = []
    for n in range(contracts):
        out.append(first[n])
        if n > 0:
            out.append(second[n - 1])
    out.append(second[-1])
    return out


def load_main(
    conn: Connection, port: int, requests: list[tuple[bytes, str]], rate: float, warmup: int
) -> None:
    conn.send(asyncio.run(_load(port, requests, rate, warmup)))


def raw_request(body: bytes, signature: str) -> bytes:
    head = (
        "POST /webhooks/autentique HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"X-Autentique-Signature: {signature}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class HttpConnection:
    """One keep-alive HTTP/1.1 connection. A hand-written client because httpx costs about a millisecond of
    CPU per request: at 200 req/s, on a shared 2-core machine, the load generator itself fell behind and its
    own delays showed up as latency. This one costs tens of microseconds."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def send(self, raw: bytes) -> int:
        self.writer.write(raw)
        status = int((await self.reader.readline()).split(b" ", 2)[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status


async def _load(port: int, requests: list[tuple[bytes, str]], rate: float, warmup: int) -> dict[str, Any]:
    idle: list[HttpConnection] = []

    async def send(raw: bytes) -> int:
        # A pooled connection may have been closed by the server while idle (uvicorn's keep-alive timeout):
        # then the request was never read, and it goes again on a new connection, as HTTP clients do.
        while idle:
            conn = idle.pop()
            try:
                status = await conn.send(raw)
            except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
                conn.writer.close()
                continue
            idle.append(conn)
            return status
        conn = HttpConnection(*await asyncio.open_connection("127.0.0.1", port))
        try:
            status = await conn.send(raw)
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
            conn.writer.close()
            return 0
        idle.append(conn)
        return status

    for n in range(warmup):  # unknown documents: the same code path up to the lookup, nothing stored
        await send(raw_request(*webhook(f"warmup{n}", "p")))
    raws = [raw_request(body, signature) for body, signature in requests]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    late: list[float] = []

    async def one(raw: bytes, due: float) -> None:
        code = await send(raw)
        # From when the request was due, not when it left: a late send is latency too.
        latencies.append(time.perf_counter() - due)
        statuses[code] = statuses.get(code, 0) + 1

    tasks = []
    t0 = time.perf_counter()
    for i, raw in enumerate(raws):
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            late.append(-delay)
        tasks.append(asyncio.create_task(one(raw, due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t0
    for conn in idle:
        conn.writer.close()
    return {
        "latencies": latencies,
        "statuses": statuses,
        "elapsed": elapsed,
        "late_max": max(late, default=0.0),
    }


def run_load(port: int, requests: list[tuple[bytes, str]], rate: float, warmup: int) -> dict[str, Any]:
    parent, child = mp.get_context("spawn").Pipe()
    process = mp.get_context("spawn").Process(target=load_main, args=(child, port, requests, rate, warmup))
    process.start()
    result: dict[str, Any] = parent.recv()
    process.join()
    return result


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per target and round")
    parser.add_argument("--rounds", type=int, default=3, help="bare then service, this many times")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--no-aof", action="store_true", help="Redis without AOF (the services run with it)")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return

    from eventbus.server import RedisServer

    total = int(args.rate * args.seconds)
    rows: list[list[str]] = []
    p99s: dict[str, list[float]] = {"bare": [], "service": []}
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp), appendonly=not args.no_aof) as redis:
        # Fresh contracts for every round: a replayed webhook would measure the replay path instead.
        workload = asyncio.run(seed(redis.url, (total + 1) // 2 * args.rounds))
        for round_ in range(1, args.rounds + 1):
            requests = workload[(round_ - 1) * total : round_ * total]
            results: dict[str, dict[str, Any]] = {}
            for kind in ("bare", "service"):
                port = free_port()
                process = start_target(kind, port, redis.url)
                try:
                    cpu0 = cpu_seconds(process.pid)
                    results[kind] = run_load(port, requests, args.rate, args.warmup)
                    results[kind]["cpu"] = cpu_seconds(process.pid) - cpu0
                    results[kind]["load"] = os.getloadavg()[0]
                finally:
                    process.terminate()
                    process.wait(timeout=20)
            base_p99 = percentile(results["bare"]["latencies"], 99)
            for kind, result in results.items():
                lat = [x * 1000 for x in result["latencies"]]
                p99s[kind].append(percentile(lat, 99))
                rows.append(
                    [
                        str(round_),
                        kind,
                        f"{percentile(lat, 50):.2f}",
                        f"{percentile(lat, 90):.2f}",
                        f"{percentile(lat, 99):.2f}",
                        f"{max(lat):.2f}",
                        f"{len(lat) / result['elapsed']:.1f}",
                        " ".join(f"{code}×{count}" for code, count in sorted(result["statuses"].items())),
                        f"{result['cpu'] * 1000 / (len(lat) + args.warmup):.2f}",
                        f"{result['load']:.2f}",
                        f"{percentile(lat, 99) / (base_p99 * 1000):.2f}×",
                    ]
                )
        import redis as redis_lib

        with redis_lib.Redis.from_url(redis.url) as r:
            signed = r.xlen(f"{{{PREFIX}:contract.signed}}:stream")

    columns = ["round", "target", "p50 ms", "p90 ms", "p99 ms", "max ms", "achieved req/s", "statuses"]
    columns += ["CPU ms/req", "load avg", "p99 / bare"]
    table = Table(
        f"Webhook handling at {args.rate:g} req/s, {total} requests per target and round, one uvicorn worker",
        columns,
        rows,
    )
    median = {kind: statistics.median(values) for kind, values in p99s.items()}
    summary = Table(
        "Median over the rounds",
        ["target", "p99 ms (median of rounds)", "p99 / bare"],
        [[kind, f"{value:.2f}", f"{value / median['bare']:.2f}×"] for kind, value in median.items()],
    )
    print(render([table, summary], markdown=args.markdown))
    print(f"contract.signed events published by the service: {signed} (expected {total // 2 * args.rounds})")


if __name__ == "__main__":
    main()
