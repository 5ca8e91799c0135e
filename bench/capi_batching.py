"""facebook-capi: events per second delivered to the (fake) Graph API, batched per pixel against one request per
event, in the same run.

    uv run python bench/capi_batching.py                          # about a minute
    uv run python bench/capi_batching.py --events 3000 --baseline-events 600   # smoke run

What runs, each in its own process: a Redis server, the fake Graph API (``fakes.graph`` under uvicorn, access
log off), the load generator, and ``python -m facebook_capi`` (LOG_LEVEL=WARNING), its company loaded from
``CAPI_COMPANIES_FILE``. For each mode, on a fresh bus prefix:

1. the load generator publishes ``N`` distinct ``lead.created`` events of click-to-WhatsApp leads (each becomes
   one ``LeadSubmitted`` business-messaging event) while the service is stopped;
2. the service starts, drains the backlog: per event it indexes the lead, checks the sent record, claims the
   event, waits for its batch; per request it posts to the fake, then writes the sent records;
3. the rate is ``N`` over the time from the fake receiving the first request to it accepting the last event
   (the fake's clock, so the service's start-up is not counted).

Modes differ only in ``CAPI_BATCH_MAX_EVENTS``: ``1000`` (Meta's limit; batches leave after 50 ms at most) or
``1`` (one request per event, the baseline). Both run with ``CAPI_CONCURRENCY`` handlers in flight.
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
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _tables import Table, render
from servicekit.secretbox import generate_key

COMPANY = "cmp_01J8Z0P1F7K4V6E9QW3M0N1B2C"
PIXEL = "1234567890"
TOKEN = "bench-graph-token"
WABA = "102030405060708"


def free_port() -> int:
    from eventbus.server import free_port as port

    return port()


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {timeout}s")
        time.sleep(0.05)


# -- load generator (its own process) -------------------------------------------------------------------------


def publish_main(url: str, prefix: str, count: int) -> None:
    asyncio.run(_publish(url, prefix, count))


async def _publish(url: str, prefix: str, count: int) -> None:
    from eventbus import Bus, BusSettings, LeadCreated
    from servicekit.logging import configure_logging

    configure_logging("bench", level="WARNING")
    settings = BusSettings(prefix=prefix, live_prefix=f"{prefix}:")
    async with Bus.from_url(url, source="agent-runtime", settings=settings) as bus:
        feed = iter(range(count))

        async def worker() -> None:
            for n in feed:
                payload = LeadCreated(
                    lead_id=f"lead_bench{n:07d}",
                    company_id=COMPANY,
                    channel="whatsapp",
                    source="ads",
                    lead_external_id=f"wa:+55119{n:08d}",
                    ctwa_clid=f"ARAkBENCH{n:07d}",
                )
                await bus.emit(payload, company_id=COMPANY)

        await asyncio.gather(*(worker() for _ in range(8)))


# -- the delivery layer alone (batcher + sender → the fake over HTTP), in this process ---------------------------


def deliver_mode(
    *, name: str, batch: int, events: int, redis_url: str, graph_url: str, in_flight: int
) -> dict[str, Any]:
    return asyncio.run(_deliver(name, batch, events, redis_url, graph_url, in_flight))


async def _deliver(
    name: str, batch: int, events: int, redis_url: str, graph_url: str, in_flight: int
) -> dict[str, Any]:
    from eventbus import Keys
    from facebook_capi.batcher import Batcher
    from facebook_capi.clients.graph import GraphClient
    from facebook_capi.delivery import Destination, Retrying, Sender
    from facebook_capi.ledger import SentLedger
    from pydantic import SecretStr
    from redis.asyncio import BlockingConnectionPool, Redis
    from servicekit.upstream import Breakers

    await asyncio.to_thread(lambda: httpx.post(f"{graph_url}/_fake/reset").raise_for_status())
    now = int(time.time())
    built = [
        {
            "event_name": "LeadSubmitted",
            "event_time": now,
            "event_id": f"evt_{name}{n:07d}",
            "action_source": "business_messaging",
            "messaging_channel": "whatsapp",
            "user_data": {"whatsapp_business_account_id": WABA, "ctwa_clid": f"ARAkBENCH{n:07d}"},
        }
        for n in range(events)
    ]
    redis = Redis(connection_pool=BlockingConnectionPool.from_url(redis_url, max_connections=32))
    async with httpx.AsyncClient(base_url=graph_url, timeout=30) as http:
        sender = Sender(
            GraphClient(http, api_version="v25.0"),
            SentLedger(redis, Keys(f"benchdeliver{name}")),
            breakers=Breakers(),
            retrying=Retrying(),
            api_version="v25.0",
        )
        batcher: Batcher[Destination] = Batcher(sender.deliver, max_events=batch, max_delay=0.05)
        to = Destination(PIXEL, SecretStr(TOKEN))
        gate = asyncio.Semaphore(in_flight)

        async def one(event: dict[str, Any]) -> None:
            async with gate:
                await batcher.submit(to, event)

        started = time.perf_counter()
        outcomes = await asyncio.gather(*(one(e) for e in built), return_exceptions=True)
        seconds = time.perf_counter() - started
    await redis.aclose()
    async with httpx.AsyncClient(base_url=graph_url, timeout=30) as control:
        received = (await control.get("/_fake/events", params={"pixel_id": PIXEL})).json()
        path = f"/v25.0/{PIXEL}/events"
        requests = (await control.get("/_fake/requests", params={"path": path})).json()
    ids = [e["event"]["event_id"] for e in received]
    return {
        "mode": name,
        "batch": batch,
        "events": events,
        "accepted": len(received),
        "duplicates": len(ids) - len(set(ids)),
        "requests": len(requests),
        "failed": sum(1 for o in outcomes if isinstance(o, BaseException)),
        "seconds": seconds,
        "rate": events / seconds,
    }


# -- one mode ---------------------------------------------------------------------------------------------------


def run_mode(
    *, name: str, batch: int, events: int, redis_url: str, graph_url: str, companies: Path, concurrency: int
) -> dict[str, Any]:
    prefix = f"benchcapi{name}{int(time.time())}"
    httpx.post(f"{graph_url}/_fake/reset").raise_for_status()
    loader = mp.get_context("spawn").Process(target=publish_main, args=(redis_url, prefix, events))
    loader.start()
    loader.join()
    if loader.exitcode != 0:
        raise RuntimeError("load generator failed")
    port = free_port()
    env = os.environ | {
        "REDIS_URL": redis_url,
        "BUS_PREFIX": prefix,
        "BUS_LIVE_PREFIX": f"{prefix}:",
        "FACEBOOK_GRAPH_URL": graph_url,
        "CAPI_PORT": str(port),
        "SECRETS_KEYS": generate_key(),  # the service seals the secrets it stores
        "CAPI_COMPANIES_FILE": str(companies),
        "CAPI_BATCH_MAX_EVENTS": str(batch),
        "CAPI_CONCURRENCY": str(concurrency),
        "CONSUMER_NAME": f"bench-{name}",
        "LOG_LEVEL": "WARNING",
        # A local run: development mode, and the operators' credential the stats poll below presents.
        "WOLFGANG_ENV": "development",
        "CAPI_ADMIN_TOKEN": "dev-service-token",
    }
    service = subprocess.Popen([sys.executable, "-m", "facebook_capi"], env=env)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")
        stats_url = f"http://127.0.0.1:{port}/v1/companies/{COMPANY}/capi/stats"
        headers = {"Authorization": "Bearer dev-service-token"}
        deadline = time.monotonic() + 240
        while True:
            sent = httpx.get(stats_url, headers=headers).json()["counts"].get("sent", 0)
            if sent >= events:
                break
            if time.monotonic() > deadline or service.poll() is not None:
                raise RuntimeError(f"{name}: only {sent} of {events} events sent")
            time.sleep(0.2)
        requests = httpx.get(f"{graph_url}/_fake/requests", params={"path": f"/v25.0/{PIXEL}/events"}).json()
        received = httpx.get(f"{graph_url}/_fake/events", params={"pixel_id": PIXEL}).json()
    finally:
        service.terminate()
        service.wait(timeout=30)
    first = min(r["received_at"] for r in requests)
    last = max(e["received_at"] for e in received)
    ids = [e["event"]["event_id"] for e in received]
    return {
        "mode": name,
        "batch": batch,
        "events": events,
        "accepted": len(received),
        "duplicates": len(ids) - len(set(ids)),
        "requests": len(requests),
        "seconds": last - first,
        "rate": events / (last - first),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20000, help="events in the batched mode")
    parser.add_argument(
        "--baseline-events", type=int, default=3000, help="events in the one-per-request mode"
    )
    parser.add_argument("--concurrency", type=int, default=256, help="CAPI_CONCURRENCY, both modes")
    parser.add_argument(
        "--in-flight", type=int, default=100, help="events in flight, delivery layer, both modes"
    )
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()

    from eventbus.server import RedisServer

    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp) / "redis") as redis:
        companies = Path(tmp) / "companies.json"
        companies.write_text(
            json.dumps({COMPANY: {"pixel_id": PIXEL, "access_token": TOKEN, "waba_id": WABA}})
        )
        graph_port = free_port()
        graph_url = f"http://127.0.0.1:{graph_port}"
        graph = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "fakes.graph:create_app", "--factory", "--port", str(graph_port),
             "--no-access-log", "--log-level", "warning"],
        )  # fmt: skip
        try:
            wait_http(f"{graph_url}/_fake/pixels")
            httpx.post(
                f"{graph_url}/_fake/pixels", json={"pixel_id": PIXEL, "access_token": TOKEN}
            ).raise_for_status()
            layer = {"redis_url": redis.url, "graph_url": graph_url, "in_flight": args.in_flight}
            layer_single = deliver_mode(name="single", batch=1, events=args.baseline_events, **layer)
            layer_batched = deliver_mode(name="batched", batch=1000, events=args.events, **layer)
            common = {"redis_url": redis.url, "graph_url": graph_url, "companies": companies}
            baseline = run_mode(
                name="single", batch=1, events=args.baseline_events, concurrency=args.concurrency, **common
            )
            batched = run_mode(
                name="batched", batch=1000, events=args.events, concurrency=args.concurrency, **common
            )
        finally:
            graph.terminate()
            graph.wait(timeout=30)

    day = f"{datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores"
    tables = [
        Table(f"Delivery layer: batcher + sender → fake Graph API process ({day})", COLUMNS),
        Table(f"End to end: bus → python -m facebook_capi → fake Graph API process ({day})", COLUMNS),
    ]
    for table, rows in zip(tables, ((layer_single, layer_batched), (baseline, batched)), strict=True):
        _rows(table, *rows)
    print(render(tables, markdown=args.markdown))


COLUMNS = [
    "mode",
    "max batch",
    "events",
    "accepted",
    "duplicates",
    "requests",
    "seconds",
    "events/s",
    "ratio",
]


def _rows(table: Table, baseline: dict[str, Any], batched: dict[str, Any]) -> None:
    for row in (baseline, batched):
        table.rows.append(
            [
                row["mode"],
                str(row["batch"]),
                f"{row['events']:,}",
                f"{row['accepted']:,}",
                str(row["duplicates"]),
                f"{row['requests']:,}",
                f"{row['seconds']:.2f}",
                f"{row['rate']:,.0f}",
                f"{row['rate'] / baseline['rate']:.1f}×",
            ]
        )


if __name__ == "__main__":
    main()
