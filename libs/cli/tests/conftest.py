"""Run ``wolfgang`` in-process with typer's CliRunner against the session's Redis, on a fresh prefix."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import structlog
from click.testing import Result
from eventbus import BusSettings
from typer.testing import CliRunner
from wolfgang.__main__ import app

Invoke = Callable[..., Result]


@pytest.fixture
def cli(redis_url: str, bus_settings: BusSettings) -> Invoke:
    """``cli("consumers", "--json")``: global options come from the environment, as a user's shell gives them."""
    env = {
        "REDIS_URL": redis_url,
        "BUS_PREFIX": bus_settings.prefix,
        "BUS_LIVE_PREFIX": bus_settings.live_prefix,
        "WOLFGANG_DEBUG": "",
    }

    def invoke(*args: str) -> Result:
        # `main()` sends the bus's log lines to stderr; here they are captured so that stdout stays JSON.
        with structlog.testing.capture_logs():
            return CliRunner().invoke(app, list(args), env=env)

    return invoke


@pytest.fixture
def acli(cli: Invoke) -> Callable[..., asyncio.Future[Result]]:
    """The same from an async test: the command runs its own event loop, so it runs in a thread."""

    def invoke(*args: str) -> asyncio.Future[Result]:
        return asyncio.ensure_future(asyncio.to_thread(cli, *args))

    return invoke
