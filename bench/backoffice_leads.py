"""backoffice-api ``GET /v1/leads`` latency at a fixed request rate, and how it grows with the number of leads.

    uv run python bench/backoffice_leads.py                 # 1k → 10k → 100k leads, 200 req/s, ~4-5 minutes
    uv run python bench/backoffice_leads.py --quick         # smoke run: 1k → 10k leads, 5 s per measurement

Processes: this one starts a private redis-server, seeds leads through the real projection step
(``ReadModels.apply`` with the ops ``lead.created`` / ``lead.qualified`` produce), and orchestrates; the API runs
under uvicorn in a spawned process (as ``python -m backoffice_api`` would, consumer included); the load
generator is another spawned process, open-loop: request *i* is due at ``t0 + i/rate`` and its latency is
counted from that due time, so a stalled server cannot hide its queue (no coordinated omission).

Measured per size, in the same run, round-robin:

* ``healthz`` — ``GET /healthz``: the floor of this stack (uvicorn, FastAPI, the client) with no key, no Redis;
* ``leads`` — ``GET /v1/leads`` (first page, 50 leads): key lookup + token bucket + one ``ZRANGE BYLEX`` +
  one pipelined ``HGETALL`` per lead + handoff ``HMGET``;
* ``filtered`` — ``GET /v1/leads?status=qualified&source=ads&created_from=…`` (a combined index);
* ``by_name`` — ``GET /v1/leads/search/name?q=mari&limit=20``: one prefix range of the name index (every
  qualified lead carries a name the agent learned, from a pool of eight, so the matches grow with the size)
  + the contact → lead ``HMGET`` + the page's documents.

Besides latency, each measurement records the CPU the API process and redis-server spent per request
(``/proc/<pid>/stat``, ``INFO cpu``): unlike latency on a shared two-core machine, that cost does not depend
on what other jobs run meanwhile. The list is "flat" when its CPU per request and its latency in undisturbed
rounds stay the same from the smallest size to the largest. A round is *disturbed* when the server fell behind
the open-loop rate (achieved < 98 % of it): its latencies measure the queue, not the request; the table
reports the best round per row and the median over all rounds, and the load average seen.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from _backoffice import (  # the script's folder is on sys.path
    COMPANY,
    PREFIX,
    T0,
    api_main,
    make_key,
    redis_cpu,
)
from _noise import cpu_seconds

REPORT = Path(__file__).resolve().parent / "results" / "backoffice_leads.md"


# -- the API process ----------------------------------------------------------------------------------------


# -- the load generator ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    url: str
    path: str
    key: str
    rate: float
    seconds: float


def load_main(conn: Connection) -> None:
    while True:
        job = conn.recv()
        if job is None:
            return
        conn.send(asyncio.run(_load(job)))


async def _load(job: Load) -> dict[str, Any]:
    import httpx

    total = int(job.rate * job.seconds)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    # Idle connections are dropped before uvicorn's 5 s keep-alive closes them: reusing one the server is
    # closing at that moment is a ReadError, not a measurement.
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64, keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=job.url, headers={"X-API-Key": job.key}, limits=limits) as http:
        for _ in range(20):  # warm the connections and the server's code paths
            await http.get(job.path)

        async def one(due: float) -> None:
            response = await http.get(job.path)
            latencies.append(time.perf_counter() - due)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        tasks = []
        start = time.perf_counter() + 0.05
        for n in range(total):
            due = start + n / job.rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(due)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "count": total,
        "achieved": total / elapsed,
        "p50": _pct(latencies, 50),
        "p90": _pct(latencies, 90),
        "p99": _pct(latencies, 99),
        "max": latencies[-1],
        "statuses": statuses,
    }


def _pct(values: list[float], pct: float) -> float:
    return values[min(len(values) - 1, int(len(values) * pct / 100))]


# -- seeding ----------------------------------------------------------------------------------------------------


async def seed(redis_url: str, start: int, stop: int) -> float:
    """Leads ``start``..``stop-1`` through the projection step the consumer runs; every 4th is qualified."""
    from backoffice_api import projections
    from backoffice_api.keyspace import Keyspace
    from backoffice_api.store import ReadModels
    from eventbus import Envelope, Keys, LeadCreated, LeadQualified, connect

    redis = connect(redis_url, decode_responses=True)
    ks = Keyspace(Keys(PREFIX))
    models = ReadModels(redis, ks, marker_ttl=timedelta(days=8))
    sources = ("ads", "organic", "referral", "unknown")
    names = ("Maria", "Mariana", "João", "Ana Paula", "Carlos", "Marina", "Pedro", "Beatriz Souza")
    began = time.perf_counter()

    async def lead(n: int) -> None:
        at = T0 + timedelta(seconds=n * 7)
        created = Envelope.new(
            LeadCreated(
                lead_id=f"lead_{n:07d}", company_id=COMPANY, channel="whatsapp", source=sources[n % 4]
            ),
            source="bench",
            company_id=COMPANY,
            occurred_at=at,
        )
        await models.apply(COMPANY, created.id, projections.lead_created(ks, created))
        if n % 4 == 0:
            qualified = Envelope.new(
                LeadQualified(
                    lead_id=f"lead_{n:07d}",
                    company_id=COMPANY,
                    score=0.9,
                    criteria=["date"],
                    lead_name=names[(n // 4) % len(names)],
                ),
                source="bench",
                company_id=COMPANY,
                occurred_at=at + timedelta(minutes=5),
            )
            await models.apply(COMPANY, qualified.id, projections.lead_qualified(ks, qualified))

    try:
        for first in range(start, stop, 500):
            await asyncio.gather(*(lead(n) for n in range(first, min(stop, first + 500))))
    finally:
        await redis.aclose()
    return time.perf_counter() - began


# -- orchestration ------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="lead counts, ascending")
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of each measurement")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per size")
    parser.add_argument("--quick", action="store_true", help="1k and 10k leads, 5 s, one round")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.quick:
        sizes, args.seconds, args.rounds = [1000, 10000], 5.0, 1

    from eventbus.server import RedisServer, free_port

    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp)) as server:
        port = free_port()
        api = ctx.Process(target=api_main, args=(server.url, port), daemon=True)
        api.start()
        parent, child = ctx.Pipe()
        loader = ctx.Process(target=load_main, args=(child,), daemon=True)
        loader.start()
        try:
            rows = run(server.url, f"http://127.0.0.1:{port}", parent, sizes, args, api.pid)
        finally:
            parent.send(None)
            loader.join(10)
            api.terminate()
            api.join(10)
    report(rows, sizes, args)


def run(
    redis_url: str, base: str, conn: Connection, sizes: list[int], args: argparse.Namespace, api_pid: int
) -> list[dict]:
    import httpx

    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/readyz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("the API did not become ready")
        time.sleep(0.1)
    key = asyncio.run(make_key(redis_url, {"leads:read"}, rate_per_minute=10_000_000, burst=1_000_000))
    since = (T0 + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    paths = {
        "healthz": "/healthz",
        "leads": "/v1/leads",
        "filtered": f"/v1/leads?status=qualified&source=ads&created_from={since}",
        "by_name": "/v1/leads/search/name?q=mari&limit=20",
    }
    rows, seeded = [], 0
    for size in sizes:
        took = asyncio.run(seed(redis_url, seeded, size))
        print(f"seeded {size - seeded:,} leads in {took:.1f}s (total {size:,})", flush=True)
        seeded = size
        results: dict[str, list[dict]] = {name: [] for name in paths}
        for _ in range(args.rounds):
            for name, path in paths.items():
                cpu0, rcpu0 = cpu_seconds(api_pid), redis_cpu(redis_url)
                conn.send(Load(base, path, key, args.rate, args.seconds))
                result = conn.recv()
                result["cpu_ms"] = (cpu_seconds(api_pid) - cpu0) * 1e3 / result["count"]
                result["redis_ms"] = (redis_cpu(redis_url) - rcpu0) * 1e3 / result["count"]
                result["load"] = os.getloadavg()[0]
                bad = {s: c for s, c in result["statuses"].items() if s != 200}
                if bad:
                    raise SystemExit(f"{name}: non-200 answers {bad}")
                results[name].append(result)
                print(
                    f"{size:>9,} {name:<9} p50 {result['p50'] * 1e3:7.2f} ms  p99 {result['p99'] * 1e3:8.2f} ms"
                    f"  ({result['achieved']:.0f} req/s, api cpu {result['cpu_ms']:.2f} ms/req,"
                    f" load {result['load']:.1f})",
                    flush=True,
                )
        for name, runs in results.items():
            calm = [r for r in runs if r["achieved"] >= 0.98 * args.rate]
            rows.append(
                {
                    "size": size,
                    "name": name,
                    "rounds": len(runs),
                    "disturbed": len(runs) - len(calm),
                    "best": min(runs, key=lambda r: r["p99"]),
                    "median_p99": statistics.median(r["p99"] for r in runs),
                    "cpu_ms": statistics.median(r["cpu_ms"] for r in runs),
                    "redis_ms": statistics.median(r["redis_ms"] for r in runs),
                    "load": statistics.median(r["load"] for r in runs),
                }
            )
    return rows


def report(rows: list[dict], sizes: list[int], args: argparse.Namespace) -> None:
    lines = [
        f"`GET /v1/leads` at {args.rate:.0f} req/s (open loop), {args.seconds:.0f} s per measurement, "
        f"{args.rounds} rounds per row, {datetime.now(UTC):%Y-%m-%d}; latency of the best round, CPU medians",
        "",
        "| leads | endpoint | p50 ms | p90 ms | p99 ms | max ms | median p99 ms | disturbed rounds "
        "| API CPU ms/req | redis CPU ms/req | load avg |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        b = r["best"]
        lines.append(
            f"| {r['size']:,} | {r['name']} | {b['p50'] * 1e3:.2f} | {b['p90'] * 1e3:.2f} | {b['p99'] * 1e3:.2f} "
            f"| {b['max'] * 1e3:.1f} | {r['median_p99'] * 1e3:.1f} | {r['disturbed']}/{r['rounds']} "
            f"| {r['cpu_ms']:.2f} | {r['redis_ms']:.3f} | {r['load']:.1f} |"
        )
    lines += [
        "",
        f"| vs {sizes[0]:,} leads | API CPU/req ratio | best p50 ratio | best p99 ratio |",
        "|---|---:|---:|---:|",
    ]
    by = {(r["size"], r["name"]): r for r in rows}
    for name in ("leads", "filtered", "by_name"):
        for size in sizes[1:]:
            a, b = by[(sizes[0], name)], by[(size, name)]
            lines.append(
                f"| {name} at {size:,} | {b['cpu_ms'] / a['cpu_ms']:.2f} | {b['best']['p50'] / a['best']['p50']:.2f} "
                f"| {b['best']['p99'] / a['best']['p99']:.2f} |"
            )
    text = "\n".join(lines) + "\n"
    print()
    print(text)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
