"""Which Redis and which key prefix a command talks to: the global ``--redis-url`` / ``--prefix`` options."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import typer
from eventbus import Bus, BusSettings
from pydantic import ValidationError

from wolfgang.console import CliError

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
SOURCE = "wolfgang"


@dataclass(frozen=True)
class Target:
    #: None when neither ``--redis-url`` nor ``REDIS_URL`` was given: ``up`` then starts its own server.
    redis_url: str | None
    prefix: str = "wb"
    live_prefix: str = ""

    @property
    def url(self) -> str:
        return self.redis_url or DEFAULT_REDIS_URL

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


def target(ctx: typer.Context) -> Target:
    found = ctx.find_object(Target)
    if found is None:  # a command invoked without the app's callback (never from the command line)
        return Target(None)
    return found
