"""pytest plugin (entry point ``pytest11``): a real Redis-compatible server for the test session.

It never touches anything already listening on 6379: the server gets a free port and a temporary
directory. Tests are isolated by a fresh key prefix (and live Pub/Sub prefix) each, not by flushing, so they
can share the session's server; tests that kill the server start their own with ``redis_server_factory``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
import structlog
from ulid import ULID

from eventbus.bus import Bus
from eventbus.server import RedisServer
from eventbus.settings import BusSettings


def pytest_configure(config: pytest.Config) -> None:
    # Debug lines per published event drown the report of a failing test; keep info and up.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture
def redis_server_factory(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """Start extra servers (AOF on by default) that a test may kill; all are stopped afterwards."""
    started: list[RedisServer] = []

    def start(*, appendonly: bool = True, name: str = "own") -> RedisServer:
        server = RedisServer(tmp_path / f"{name}-{len(started)}", appendonly=appendonly).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()


@pytest.fixture
def bus_settings() -> BusSettings:
    tag = f"t{ULID()}"
    return BusSettings(prefix=tag, live_prefix=f"{tag}:")


@pytest_asyncio.fixture
async def bus(redis_url: str, bus_settings: BusSettings) -> AsyncIterator[Bus]:
    async with Bus.from_url(redis_url, source="tests", settings=bus_settings) as bus:
        yield bus
