"""The harness every service's tests build on: settings on the test bus, the app running with its lifespan
behind an HTTP client, and what reached a channel. Each service's ``tests/conftest.py`` adds only what is its
own (its fakes, its helpers); the Redis servers, ACL users and bus fixtures come from eventbus's pytest plugin.

Imported by tests only (its imports are the ``testing`` extra of servicekit)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar, cast

import httpx
from asgi_lifespan import LifespanManager
from eventbus import Bus, BusSettings, Envelope, catalog
from pydantic_settings import BaseSettings
from starlette.types import ASGIApp

from servicekit.serve import SHUTDOWN_SECONDS

S = TypeVar("S", bound=BaseSettings)

#: The admin credential the tests' services accept (there is no default outside tests).
ADMIN_TOKEN = "dev-service-token"  # noqa: S105 (a test credential, by design)
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def settings_for(
    kind: type[S],
    service: str,
    *,
    service_redis_url: Callable[[str], str],
    bus_settings: BusSettings,
    **overrides: Any,
) -> S:
    """``kind`` for ``service`` on this test's bus, as the service's own Redis user, polling fast; validated
    (unlike ``model_copy``), so an override of the wrong type fails here."""
    values: dict[str, Any] = {
        "redis_url": service_redis_url(service),
        "bus_prefix": bus_settings.prefix,
        "bus_live_prefix": bus_settings.live_prefix,
        "consumer_block_seconds": 0.1,
    }
    return kind.model_validate(values | overrides)


def asgi(app: ASGIApp) -> httpx.ASGITransport:
    """A transport into ``app`` in this process: a fake upstream, or the service itself."""
    return httpx.ASGITransport(app=app)


@asynccontextmanager
async def serving(app: ASGIApp, *, base_url: str = "http://test") -> AsyncIterator[httpx.AsyncClient]:
    """``app`` started (its lifespan: bus, consumer, clients) and an HTTP client to it; stopped on exit.

    Stopping may take as long as a served process is allowed (``serve.SHUTDOWN_SECONDS``: consumers finish or
    release what they hold), not asgi-lifespan's default 5 s, which a loaded CI machine once exceeded (6 s on
    the cluster) in a test about something else."""
    async with (
        LifespanManager(app, startup_timeout=30, shutdown_timeout=SHUTDOWN_SECONDS),
        httpx.AsyncClient(transport=asgi(app), base_url=base_url) as http,
    ):
        yield http


async def published(bus: Bus, channel: str) -> list[Envelope[Any]]:
    """Every event retained on ``channel``, oldest first, parsed as the catalog says."""
    entries = cast("list[tuple[bytes, dict[bytes, bytes]]]", await bus.redis.xrange(bus.keys.stream(channel)))
    return [catalog.parse(fields[b"e"]) for _, fields in entries]
