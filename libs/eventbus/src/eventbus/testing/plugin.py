"""pytest plugin (entry point ``pytest11``): a real Redis-compatible server for the test session.

It never touches anything already listening on 6379: the server gets a free port and a temporary
directory. Tests are isolated by a fresh key prefix (and live Pub/Sub prefix) each, not by flushing, so they
can share the session's server; tests that kill the server start their own with ``redis_server_factory``.

``service_redis_url("<service>")`` is the same server as that service's ACL user (``eventbus.acl``): the
services' suites run their apps on it, so a key or command outside the service's grant fails the test.

``WB_TEST_REDIS=cluster`` runs the same tests against a local Redis Cluster (3 primaries + 3 replicas):
``redis_url`` is then its ``redis+cluster://`` URL. ``redis_cluster_factory`` starts clusters that a test may
break (kill a primary).
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
import structlog
from ulid import ULID

from eventbus import acl
from eventbus.bus import Bus
from eventbus.keys import Keys
from eventbus.server import LocalCluster, RedisServer
from eventbus.settings import BusSettings


def pytest_configure(config: pytest.Config) -> None:
    # Debug lines per published event drown the report of a failing test; keep info and up.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


def cluster_mode() -> bool:
    """Whether this test session runs against a Redis Cluster (``WB_TEST_REDIS=cluster``)."""
    return os.environ.get("WB_TEST_REDIS", "").lower() == "cluster"


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with LocalCluster(tmp_path_factory.mktemp("cluster"), appendonly=False) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def redis_url(request: pytest.FixtureRequest) -> str:
    if cluster_mode():
        return str(request.getfixturevalue("redis_cluster").url)
    return str(request.getfixturevalue("redis_server").url)


@pytest.fixture
def redis_cluster_factory(tmp_path: Path) -> Iterator[Callable[..., LocalCluster]]:
    """Start clusters (AOF on by default) that a test may break; all are killed afterwards."""
    started: list[LocalCluster] = []

    def start(*, appendonly: bool = True, primaries: int = 3, replicas: int = 1) -> LocalCluster:
        cluster = LocalCluster(
            tmp_path / f"cluster-{len(started)}",
            primaries=primaries,
            replicas=replicas,
            appendonly=appendonly,
        )
        started.append(cluster.start())
        return cluster

    yield start
    for cluster in started:
        cluster.kill()


@pytest.fixture
def redis_server_factory(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """Start extra servers (AOF on by default) that a test may kill; all are stopped afterwards."""
    started: list[RedisServer] = []

    def start(*, appendonly: bool = True, fsync_always: bool = False, name: str = "own") -> RedisServer:
        server = RedisServer(
            tmp_path / f"{name}-{len(started)}", appendonly=appendonly, fsync_always=fsync_always
        ).start()
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


@pytest.fixture
def service_redis_url(redis_url: str, bus_settings: BusSettings) -> Callable[[str], str]:
    """``service_redis_url("facebook-capi")``: the session's server (or cluster) as that service's ACL user
    (``eventbus.acl``) for this test's prefix, a user of its own per test: what the service may touch in
    production, and no more."""
    keys = Keys(
        bus_settings.prefix, bus_settings.live_prefix, sharded=cluster_mode() or bus_settings.sharded_pubsub
    )
    made: dict[str, str] = {}

    def url_for(service: str) -> str:
        if service not in made:
            user, password = f"{service}.{bus_settings.prefix}", secrets.token_urlsafe(16)
            acl.install(redis_url, acl.setuser_commands(keys, {service: password}, users={service: user}))
            made[service] = acl.with_credentials(redis_url, user, password)
        return made[service]

    return url_for
