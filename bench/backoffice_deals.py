"""backoffice-api ``GET /v1/deals`` at a fixed request rate, and how its cost grows with the number of deals.

    uv run python bench/backoffice_deals.py                 # 1k → 10k → 100k deals, 1000 requests each, 3 rounds
    uv run python bench/backoffice_deals.py --quick         # smoke run: 1k → 10k deals, 300 requests, one round

The sibling of ``backoffice_leads.py``: a private redis-server, the API under uvicorn in a spawned process (as
``python -m backoffice_api`` runs it), and the CPU the API process and redis-server spend per request
(``/proc/<pid>/stat``, ``INFO cpu``) — the figure that does not depend on what else runs on a shared machine.
Unlike that benchmark the load is closed-loop (``--concurrency`` requests in flight, ``--requests`` in all): an
open-loop rate that a loaded machine cannot serve times the client out instead of measuring. Its latencies
are quoted but only mean something on a quiet machine. Deals are seeded through the store the API writes with
(``Deals.create`` / ``Deals.move``: one compare-and-set script per write, indexes included); one in four is
moved to ``qualified``, owners cycle over four sellers, values over 1..100 000.

Measured per size, round-robin: ``healthz`` (the stack's floor); ``deals`` — the first page (50) of all
deals: one ``ZRANGE BYLEX`` and the page's documents; ``stage_owner`` — ``stage=qualified&owner=ana``, one
combined index; ``value`` — ``value_min=50000``, checked on the documents (half of them match, so a page
examines about 100 deals). Flat means CPU per request and undisturbed latency stay the same from the smallest
size to the largest.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _backoffice import COMPANY, PREFIX, api_main, make_key, redis_cpu  # the script's folder is on sys.path
from _noise import cpu_seconds

REPORT = Path(__file__).resolve().parent / "results" / "backoffice_deals.md"
OWNERS = ("ana", "bia", "caio", "duda")
PATHS = {
    "healthz": "/healthz",
    "deals": "/v1/deals",
    "stage_owner": "/v1/deals?stage=qualified&owner=ana",
    "value": "/v1/deals?value_min=50000",
}


async def seed(redis_url: str, start: int, stop: int) -> float:
    from backoffice_api.deals import Actor, Deals
    from backoffice_api.keyspace import Keyspace
    from eventbus import Keys, connect

    redis = connect(redis_url, decode_responses=True)
    deals = Deals(redis, Keyspace(Keys(PREFIX)))
    seller = Actor("api_key", "key_bench", "bench")
    began = time.perf_counter()

    async def deal(n: int) -> None:
        made = await deals.create(
            COMPANY,
            lead_id=f"lead_{n % 5000:07d}",
            value=float((n * 7919) % 100_000 + 1),
            currency="BRL",
            event={},
            owner=OWNERS[n % 4],
            by=seller,
        )
        if n % 4 == 0:
            await deals.move(COMPANY, made["deal_id"], "qualified", by=seller, reason=None, if_match=None)

    try:
        # 100 at a time: 500 once waited longer than the client pool's timeout on a loaded machine
        # ("No connection available"), which ended a run at 100k deals.
        for first in range(start, stop, 100):
            await asyncio.gather(*(deal(n) for n in range(first, min(stop, first + 100))))
    finally:
        await redis.aclose()
    return time.perf_counter() - began


async def measure(base: str, path: str, key: str, *, requests: int, concurrency: int) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    todo = iter(range(requests))
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": key}, timeout=120) as http:
        for _ in range(10):  # warm the connections and the server's code paths
            await http.get(path)

        async def worker() -> None:
            for _ in todo:
                began = time.perf_counter()
                response = await http.get(path)
                latencies.append(time.perf_counter() - began)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "count": requests,
        "rate": requests / elapsed,
        "p50": latencies[len(latencies) // 2],
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "statuses": statuses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="deal counts, ascending")
    parser.add_argument("--requests", type=int, default=1000, help="requests per measurement")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per size")
    parser.add_argument("--quick", action="store_true", help="1k and 10k deals, 300 requests, one round")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.quick:
        sizes, args.requests, args.rounds = [1000, 10000], 300, 1

    from eventbus.server import RedisServer, free_port

    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp)) as server:
        port = free_port()
        api = ctx.Process(target=api_main, args=(server.url, port), daemon=True)
        api.start()
        try:
            rows = run(server.url, f"http://127.0.0.1:{port}", sizes, args, api.pid)
        finally:
            api.terminate()
            api.join(10)
    report(rows, sizes, args)


def run(redis_url: str, base: str, sizes: list[int], args: argparse.Namespace, api_pid: int) -> list[dict]:
    import httpx

    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/readyz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("the API did not become ready")
        time.sleep(0.1)
    key = asyncio.run(make_key(redis_url, {"deals:read"}, rate_per_minute=10_000_000, burst=1_000_000))
    rows, seeded = [], 0
    for size in sizes:
        took = asyncio.run(seed(redis_url, seeded, size))
        print(f"seeded {size - seeded:,} deals in {took:.1f}s (total {size:,})", flush=True)
        seeded = size
        results: dict[str, list[dict]] = {name: [] for name in PATHS}
        for _ in range(args.rounds):
            for name, path in PATHS.items():
                cpu0, rcpu0 = cpu_seconds(api_pid), redis_cpu(redis_url)
                result = asyncio.run(
                    measure(base, path, key, requests=args.requests, concurrency=args.concurrency)
                )
                result["cpu_ms"] = (cpu_seconds(api_pid) - cpu0) * 1e3 / (result["count"] + 10)
                result["redis_ms"] = (redis_cpu(redis_url) - rcpu0) * 1e3 / (result["count"] + 10)
                result["load"] = os.getloadavg()[0]
                bad = {s: c for s, c in result["statuses"].items() if s != 200}
                if bad:
                    raise SystemExit(f"{name}: non-200 answers {bad}")
                results[name].append(result)
                print(
                    f"{size:>9,} {name:<12} p50 {result['p50'] * 1e3:7.2f} ms  p99 {result['p99'] * 1e3:8.2f} ms"
                    f"  ({result['rate']:.0f} req/s, api cpu {result['cpu_ms']:.2f} ms/req,"
                    f" redis cpu {result['redis_ms']:.3f} ms/req, load {result['load']:.1f})",
                    flush=True,
                )
        for name, runs in results.items():
            rows.append(
                {
                    "size": size,
                    "name": name,
                    "rounds": len(runs),
                    "p50": statistics.median(r["p50"] for r in runs),
                    "p99": statistics.median(r["p99"] for r in runs),
                    "cpu_ms": statistics.median(r["cpu_ms"] for r in runs),
                    "redis_ms": statistics.median(r["redis_ms"] for r in runs),
                    "load": statistics.median(r["load"] for r in runs),
                }
            )
    return rows


def report(rows: list[dict], sizes: list[int], args: argparse.Namespace) -> None:
    lines = [
        f"`GET /v1/deals`, closed loop ({args.concurrency} in flight), {args.requests} requests per measurement, "
        f"{args.rounds} rounds per row, {datetime.now(UTC):%Y-%m-%d}; medians",
        "",
        "| deals | endpoint | p50 ms | p99 ms | API CPU ms/req | redis CPU ms/req | load avg |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['size']:,} | {r['name']} | {r['p50'] * 1e3:.2f} | {r['p99'] * 1e3:.2f} "
            f"| {r['cpu_ms']:.2f} | {r['redis_ms']:.3f} | {r['load']:.1f} |"
        )
    lines += ["", f"| vs {sizes[0]:,} deals | API CPU/req ratio | redis CPU/req ratio |", "|---|---:|---:|"]
    by = {(r["size"], r["name"]): r for r in rows}
    for name in PATHS:
        if name == "healthz":
            continue
        for size in sizes[1:]:
            a, b = by[(sizes[0], name)], by[(size, name)]
            redis_ratio = b["redis_ms"] / max(a["redis_ms"], 1e-6)
            lines.append(f"| {name} at {size:,} | {b['cpu_ms'] / a['cpu_ms']:.2f} | {redis_ratio:.2f} |")
    text = "\n".join(lines) + "\n"
    print()
    print(text)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
