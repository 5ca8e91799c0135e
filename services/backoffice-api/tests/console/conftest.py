"""The console's browser tests: backoffice-api served by uvicorn on a free port over the real Redis (its
upstreams the stand-ins of ``tests/conftest.py``), and Debian's Chromium driven by Playwright's sync API (the
root conftest finds Chromium and says where screenshots go). One browser per module, a fresh context (so a
fresh sessionStorage, so signed out) per test. The whole day against the real services is
``tests/e2e/test_console_day.py``."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import eventbus
import httpx
import pytest
import uvicorn
from backoffice_api.apikeys import ApiKeys
from backoffice_api.keyspace import Keyspace
from eventbus import Bus, Envelope, Keys
from eventbus.server import free_port

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

COMPANY = "cmp_A"


def run(coroutine: Any) -> Any:
    """Run a coroutine to completion on a loop of its own: Playwright's sync API holds this thread's loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


# Module-scoped: Playwright's sync API keeps its event loop marked running on this thread until it stops, and
# the async tests after these modules need the thread free.
@pytest.fixture(scope="module")
def browser(chromium) -> Iterator[Any]:
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, browser_context) -> Iterator[Any]:
    context = browser.new_context(**browser_context)
    page = context.new_page()
    page.dialogs = []  # every alert/confirm that fired: a lead's markup must never open one
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    context.close()


@pytest.fixture
def screenshot(screenshots: Path):
    def take(page: Any, name: str, *, full_page: bool = False) -> None:
        page.screenshot(path=screenshots / f"{name}.png", full_page=full_page)

    return take


class Served:
    """The app under uvicorn in a thread, with helpers that write what the producers would."""

    def __init__(self, app: Any, settings: Any, admin_url: str) -> None:
        self.settings = settings
        #: The test's own Redis user: it writes as the producers would, which backoffice-api's ACL user may not.
        self.admin_url = admin_url
        self.url = ""
        self._app = app

    def __enter__(self) -> Served:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            self._app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1
        )  # the open live streams would otherwise hold the shutdown
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)

    @property
    def bus_settings(self) -> Any:
        return eventbus.BusSettings(
            prefix=self.settings.bus_prefix, live_prefix=self.settings.bus_live_prefix
        )

    def key(self, company: str = COMPANY, scopes: tuple[str, ...] = (), *, roomy: bool = True) -> str:
        """A key; ``roomy=False`` keeps the service's default rate limit, as a real operator's key has."""
        limits = {"rate_per_minute": 100_000, "burst": 10_000} if roomy else {}

        async def create() -> str:
            redis = eventbus.connect(self.admin_url, decode_responses=True)
            try:
                keys = ApiKeys(redis, Keyspace(Keys(self.settings.bus_prefix, self.settings.bus_live_prefix)))
                secret, _ = await keys.create(company_id=company, scopes=set(scopes), name="Ana", **limits)
                return secret
            finally:
                await redis.aclose()

        return str(run(create()))

    def publish(self, *events: Envelope[Any]) -> None:
        async def send() -> None:
            async with Bus.from_url(self.admin_url, source="tests", settings=self.bus_settings) as bus:
                for event in events:
                    await bus.publish(event)

        run(send())

    run = staticmethod(run)

    def call(self, method: str, path: str, key: str, **kwargs: Any) -> Any:
        answer = httpx.request(method, f"{self.url}{path}", headers={"X-API-Key": key}, timeout=10, **kwargs)
        assert answer.is_success, answer.text
        return answer

    def sign_in(self, page: Any, key: str, at: str = "") -> None:
        """Open the console (at ``#/…`` when given) and sign in; back once the live stream is open."""
        page.goto(f"{self.url}/console/{at}")
        page.get_by_label("Chave de API").fill(key)
        page.get_by_role("button", name="Entrar").click()
        expect(page.locator("#live")).to_have_text("ao vivo")


@pytest.fixture
def serve(make_app, settings, redis_url):
    """``with serve(**overrides) as served:`` the app with other settings."""

    def start(**overrides: Any) -> Served:
        return Served(make_app(**overrides), settings, redis_url)

    return start


@pytest.fixture
def served(serve) -> Iterator[Served]:
    with serve() as running:
        yield running
