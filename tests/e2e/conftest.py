"""The whole system as `make run` starts it: real processes for the fakes and the five services, on free ports,
against a Redis server of the test's own with AOF on."""

import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from eventbus import Bus, BusSettings
from eventbus.server import RedisServer, free_port
from rich.console import Console
from servicekit.secretbox import generate_key
from ulid import ULID
from wolfgang.acl import create_users
from wolfgang.demo import Demo
from wolfgang.runner import Runner, progress_bar
from wolfgang.system import MEMBERS, SERVICE_NAMES, System


@dataclass
class RunningSystem:
    system: System
    runner: Runner
    bus: Bus
    http: httpx.AsyncClient
    demo: Demo
    reports: list[str]
    #: the system's Redis (AOF on), for tests that kill and restart it
    server: RedisServer

    async def restart(self, name: str) -> None:
        """Start ``name`` again (after it was killed) and wait until it is ready."""
        self.runner.children = [c for c in self.runner.children if c.process.poll() is None]
        with progress_bar(Console(file=io.StringIO())) as progress:
            await self.runner.start([name], progress)


@pytest_asyncio.fixture
async def running(tmp_path: Path, redis_server_factory) -> AsyncIterator[RunningSystem]:
    server: RedisServer = redis_server_factory(appendonly=True, name="e2e")
    prefix = f"e2e{ULID()}"
    # every service on its own ACL user, as `wolfgang up` runs them
    users = create_users(server.url, prefix, f"{prefix}:", SERVICE_NAMES, {})
    system = System(
        server.url,
        prefix,
        f"{prefix}:",
        {name: free_port() for name in MEMBERS},
        service_redis_urls=users,
        secrets_keys=generate_key(),
    )
    runner = Runner(system, logs=tmp_path / "logs", console=Console(file=io.StringIO()))
    reports: list[str] = []
    try:
        with progress_bar(Console(file=io.StringIO())) as progress:
            await runner.start(list(MEMBERS), progress)
        async with (
            Bus.from_url(
                server.url, source="e2e", settings=BusSettings(prefix=prefix, live_prefix=f"{prefix}:")
            ) as bus,
            httpx.AsyncClient(timeout=10) as http,
        ):
            demo = Demo(system, bus, http, state=tmp_path / "demo.json", report=reports.append)
            yield RunningSystem(system, runner, bus, http, demo, reports, server)
    finally:
        await runner.stop()


@pytest_asyncio.fixture
async def console_page(chromium, browser_context) -> AsyncIterator[Any]:
    """A fresh page in Debian's Chromium (async Playwright: the system's fixtures hold this thread's loop);
    ``page.dialogs`` lists every alert/confirm that fired, which a lead's markup must never open."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium)
        context = await browser.new_context(**browser_context)
        page = await context.new_page()
        page.dialogs = []

        async def dismiss(dialog: Any) -> None:
            page.dialogs.append(dialog.message)
            await dialog.dismiss()

        page.on("dialog", dismiss)
        try:
            yield page
        finally:
            await browser.close()


@pytest.fixture
def screenshot(screenshots: Path):
    async def take(page: Any, name: str) -> None:
        await page.screenshot(path=screenshots / f"{name}.png", full_page=True)

    return take
