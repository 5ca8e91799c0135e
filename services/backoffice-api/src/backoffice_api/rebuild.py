"""Rebuild the read models from the retained streams: clear them, forget what was processed, replay.

Safe while the service keeps consuming. The consumer acknowledges (and marks processed) a handled event on
its next round trip, so an event handled just before the views are cleared may be marked processed just
after the processed set was forgotten, and the replay would skip it. A second reset after ``grace`` (longer
than a consumer round trip) replays once more: everything already re-applied is skipped by its applied
marker, and such stragglers are applied. Facts that no event carries (deals, the handoff mirror, API keys)
live outside ``view:`` and are left alone.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from eventbus import Bus, Client, forget_processed, replay_since
from redis.exceptions import ResponseError

from backoffice_api import SERVICE
from backoffice_api.handlers import REACTIONS
from backoffice_api.keyspace import Keyspace

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Rebuilt:
    deleted_keys: int
    channels: tuple[str, ...]


async def rebuild(
    bus: Bus, *, redis: Client | None = None, group: str = SERVICE, grace: timedelta = timedelta(seconds=5)
) -> Rebuilt:
    """Clear every ``view:`` key and make ``group`` consume each channel's retained history again.

    SCAN is fine here: this is an operator's command, never a request path.
    """
    redis = redis or bus.redis
    ks = Keyspace(bus.keys)
    deleted = 0
    batch: list[str | bytes] = []
    async for key in redis.scan_iter(match=ks.views(), count=1000):
        batch.append(key)
        if len(batch) >= 500:
            deleted += await redis.unlink(*batch)
            batch.clear()
    if batch:
        deleted += await redis.unlink(*batch)
    await _replay_all(bus, group)
    await asyncio.sleep(grace.total_seconds())
    await _replay_all(bus, group)
    return Rebuilt(deleted_keys=deleted, channels=tuple(REACTIONS))


async def _replay_all(bus: Bus, group: str) -> None:
    for channel in REACTIONS:
        try:
            await bus.redis.xgroup_create(bus.keys.stream(channel), group, "0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        await forget_processed(bus, channel, group)
        await replay_since(bus, channel, group, EPOCH, force=True)  # every handler runs again: asked for
