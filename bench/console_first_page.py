"""The operators' console: how long its first page (the inbox, 50 newest leads drawn) takes to load in a real
headless Chromium, with 10,000 leads in the company.

    uv run python bench/console_first_page.py                  # 10,000 leads, 1 cold + 10 warm loads
    uv run python bench/console_first_page.py --leads 100000   # the same at another size

Processes: this one starts a private redis-server, seeds the leads (each with a contact and one message)
through the real projection step, runs backoffice-api under uvicorn in a spawned process, and drives Debian's
chromium through Playwright (``CHROMIUM`` overrides ``/usr/bin/chromium``). Each load is a fresh browser
context (empty cache, no service worker) whose sessionStorage already holds the key, as after signing in; the
time is ``performance.now()`` when the inbox says it is drawn (``main[data-ready="inbox"]``), i.e. from the
navigation's start: HTML, CSS, the ES modules, ``GET /v1/me``, ``GET /v1/leads`` and drawing 50 rows. The last
messages fill in afterwards and the live stream opens meanwhile: neither delays the first paint.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import statistics
import tempfile
from pathlib import Path

from _backoffice import COMPANY, PREFIX, T0, api_main, make_key  # the script's own folder is on sys.path

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCOPES = {"leads:read", "leads:write", "events:read", "metrics:read", "instances:read", "contracts:read"}


async def seed(redis_url: str, count: int) -> float:
    """``count`` leads, each with a WhatsApp contact and one message from it, through the projection step the
    consumer runs (so the list reads each lead's last message, as in production)."""
    import time
    from datetime import timedelta

    from backoffice_api import projections
    from backoffice_api.keyspace import Keyspace
    from backoffice_api.store import ReadModels
    from eventbus import Envelope, Keys, LeadCreated, connect
    from eventbus.testing import samples

    redis = connect(redis_url, decode_responses=True)
    ks = Keyspace(Keys(PREFIX))
    models = ReadModels(redis, ks, marker_ttl=timedelta(days=8))
    began = time.perf_counter()

    async def lead(n: int) -> None:
        at, phone = T0 + timedelta(seconds=n * 7), f"+55119{n:08d}"
        payload = LeadCreated(
            lead_id=f"lead_{n:07d}",
            company_id=COMPANY,
            channel="whatsapp",
            source="ads",
            lead_external_id=f"wa:{phone}",
        )
        created = Envelope.new(payload, source="bench", company_id=COMPANY, occurred_at=at)
        await models.apply(COMPANY, created.id, projections.lead_created(ks, created))
        said = Envelope.new(
            samples.message_received(n, lead=phone),
            source="bench",
            company_id=COMPANY,
            occurred_at=at + timedelta(seconds=1),
        )
        await models.apply(COMPANY, said.id, projections.message_received(ks, said))

    try:
        for first in range(0, count, 500):
            await asyncio.gather(*(lead(n) for n in range(first, min(count, first + 500))))
    finally:
        await redis.aclose()
    return time.perf_counter() - began


def wait_ready(url: str, seconds: float = 30) -> None:
    import time

    import httpx

    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("backoffice-api did not become ready")
        time.sleep(0.1)


def load_times(url: str, key: str, loads: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        for _ in range(loads):
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            # As after signing in: the key is in this tab's sessionStorage, never in the URL.
            context.add_init_script(f"sessionStorage.setItem('wb.apiKey', {json.dumps(key)})")
            page = context.new_page()
            page.goto(f"{url}/console/", wait_until="commit")
            page.wait_for_selector('main[data-ready="inbox"]', state="attached", timeout=30_000)
            elapsed = page.evaluate("performance.now()")
            rows = page.locator("#inbox-rows tr").count()
            assert rows == 50, f"the first page drew {rows} rows"
            assert "Olá" in page.locator("#inbox-rows").inner_text(), "no last message shown"
            times.append(float(elapsed))
            context.close()
        browser.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--loads", type=int, default=11, help="the first is cold (server caches, bytecode)")
    args = parser.parse_args()

    from eventbus.server import RedisServer, free_port

    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp)) as server:
        seeded = asyncio.run(seed(server.url, args.leads))
        key = asyncio.run(make_key(server.url, SCOPES, rate_per_minute=1_000_000, burst=100_000))
        port = free_port()
        api = mp.get_context("spawn").Process(target=api_main, args=(server.url, port), daemon=True)
        api.start()
        try:
            url = f"http://127.0.0.1:{port}"
            wait_ready(url)
            times = load_times(url, key, args.loads)
        finally:
            api.terminate()
            api.join(10)
    cold, warm = times[0], times[1:]
    load = os.getloadavg()
    print(f"console first page, {args.leads:,} leads (seeded in {seeded:.1f} s), load average {load[0]:.2f}")
    print(f"  cold (first load):  {cold:7.0f} ms")
    if warm:
        print(
            f"  warm ({len(warm)} loads):     median {statistics.median(warm):.0f} ms, "
            f"min {min(warm):.0f} ms, max {max(warm):.0f} ms"
        )


if __name__ == "__main__":
    main()
