"""Which Redis and which key prefix a command talks to: the global ``--redis-url`` / ``--prefix`` options, or
else the system ``wolfgang up`` runs on the data directory (``wolfgang.datadir``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import typer
from eventbus import Bus, BusSettings
from pydantic import ValidationError

from wolfgang.console import CliError
from wolfgang.datadir import running_system

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
SOURCE = "wolfgang"


@dataclass(frozen=True)
class Target:
    #: None when neither ``--redis-url`` nor ``REDIS_URL`` was given: ``up`` then starts its own server.
    redis_url: str | None
    prefix: str = "wb"
    live_prefix: str = ""
    #: The running system's Redis (``<data dir>/system.json``), used when no URL was given.
    found_url: str | None = None

    @property
    def url(self) -> str:
        return self.redis_url or self.found_url or DEFAULT_REDIS_URL

    def bus_settings(self) -> BusSettings:
        try:
            return BusSettings(prefix=self.prefix, live_prefix=self.live_prefix)
        except ValidationError as exc:
            raise CliError(f"invalid --prefix {self.prefix!r}: {exc.errors()[0]['msg']}") from None

    @asynccontextmanager
    async def bus(self, url: str | None = None) -> AsyncIterator[Bus]:
        """A bus handle; fails at once, with one line, when Redis is not there (the client would retry)."""
        async with Bus.from_url(url or self.url, source=SOURCE, settings=self.bus_settings()) as bus:
            await bus.redis.ping()
            yield bus


def resolve(redis_url: str | None, prefix: str | None, live_prefix: str | None, data_dir: Path) -> Target:
    """The options as given; without a Redis URL, the system running on ``data_dir`` fills what is missing."""
    found = None if redis_url else running_system(data_dir)
    if found is None:
        return Target(redis_url, prefix or "wb", live_prefix or "")
    return Target(
        None,
        prefix or found.prefix,
        found.live_prefix if live_prefix is None else live_prefix,
        found_url=found.redis_url,
    )


def target(ctx: typer.Context) -> Target:
    found = ctx.find_object(Target)
    if found is None:  # a command invoked without the app's callback (never from the command line)
        return Target(None)
    return found
