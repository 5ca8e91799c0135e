"""What operators ask of the bus: group lag and pending counts, history replays, rebuild resets."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from redis.exceptions import ResponseError

from eventbus import metrics
from eventbus.bus import Bus
from eventbus.envelope import format_timestamp
from eventbus.errors import ReplayOutsideWindow
from eventbus.idempotency import BUCKET_MS, BUCKET_SKEW_MS

log = structlog.get_logger("eventbus.operations")


@dataclass(frozen=True)
class GroupStats:
    group: str
    consumers: int
    pending: int
    #: Entries in the stream not yet delivered to the group (``XINFO GROUPS`` lag; None when Redis can't tell).
    lag: int | None
    last_delivered_id: str
    dead_letters: int
    #: Entries the stream's hard ceiling dropped before the group had handled them (undelivered or pending),
    #: in all; and when it last happened (None: never).
    dropped: int = 0
    dropped_at: datetime | None = None

    def export(self, channel: str) -> None:
        metrics.GROUP_PENDING.labels(channel, self.group).set(self.pending)
        metrics.GROUP_DEAD_LETTERS.labels(channel, self.group).set(self.dead_letters)
        metrics.GROUP_DROPPED.labels(channel, self.group).set(self.dropped)
        if self.lag is not None:
            metrics.GROUP_LAG.labels(channel, self.group).set(self.lag)


async def group_stats(bus: Bus, channel: str) -> list[GroupStats]:
    """One row per consumer group of ``channel`` (empty when the stream does not exist yet)."""
    try:
        groups = await bus.redis.xinfo_groups(bus.keys.stream(channel))
    except ResponseError:
        return []
    retention = {
        _text(k): _text(v) for k, v in (await bus.redis.hgetall(bus.keys.retention(channel))).items()
    }
    rows = []
    for info in groups:
        name = _text(info["name"])
        dead = await bus.redis.xlen(bus.keys.dead_letters(channel, name))
        lag = info.get("lag")
        dropped_at = retention.get(f"dropped_at:{name}")
        rows.append(
            GroupStats(
                group=name,
                consumers=int(info["consumers"]),
                pending=int(info["pending"]),
                lag=int(lag) if lag is not None else None,
                last_delivered_id=_text(info["last-delivered-id"]),
                dead_letters=int(dead),
                dropped=int(retention.get(f"dropped:{name}", 0)),
                dropped_at=datetime.fromtimestamp(int(dropped_at) / 1000, UTC) if dropped_at else None,
            )
        )
    return rows


async def processed_window_start(bus: Bus, channel: str, group: str) -> datetime:
    """The oldest publish time whose events ``group`` still recognises as processed. Processed ids are kept
    ``processed_retention`` and at most ``processed_maxlen``: an event published earlier may have been handled
    and its mark dropped since.

    Two kinds of mark (``eventbus.idempotency``), each trimmed by count on its own. In the sorted set a mark is
    scored with the time it was handled, never before its event was published: every event published from the
    oldest mark kept on is still recognised. A bucket holds ids handled within ``BUCKET_SKEW`` of their own
    time and is trimmed whole, oldest first: an event published at or after the oldest bucket's start plus
    the skew and one bucket is in that bucket or a later one."""
    settings = bus.settings
    start_ms = int(time.time() * 1000 - settings.processed_retention.total_seconds() * 1000)
    if settings.processed_maxlen:
        keys = bus.keys
        key = keys.processed(channel, group)
        if await bus.redis.zcard(key) >= settings.processed_maxlen:  # trimmed by count: older marks are gone
            oldest = await bus.redis.zrange(key, 0, 0, withscores=True)
            if oldest:
                start_ms = max(start_ms, int(oldest[0][1]))
        # The bucket trim keeps at least processed_maxlen marks once it has dropped one by count.
        if int(await bus.redis.get(keys.processed_count(channel, group)) or 0) >= settings.processed_maxlen:
            first = await bus.redis.zrange(keys.processed_index(channel, group), 0, 0, withscores=True)
            if first:
                start_ms = max(start_ms, int(first[0][1]) + BUCKET_MS + BUCKET_SKEW_MS)
    return datetime.fromtimestamp(start_ms / 1000, UTC)


async def check_replay_window(
    bus: Bus, channel: str, group: str, published: datetime, *, what: str, force: bool
) -> None:
    """Refuse (:class:`ReplayOutsideWindow`) a replay to ``group`` of events published at ``published`` or
    later when that is before the group's processed-id window; with ``force``, log it and let it through."""
    start = await processed_window_start(bus, channel, group)
    if published >= start:
        return
    if not force:
        raise ReplayOutsideWindow(what, format_timestamp(published), format_timestamp(start))
    log.warning(
        "replay_forced",
        what=what,
        channel=channel,
        group=group,
        published_at=format_timestamp(published),
        processed_window_start=format_timestamp(start),
    )


async def replay_since(bus: Bus, channel: str, group: str, since: datetime, *, force: bool = False) -> None:
    """Deliver the channel's retained history from ``since`` to ``group`` again.

    Moves the group's position back (``XGROUP SETID``); already-processed events are acknowledged and
    skipped by the consumers, so side effects still happen once. To rebuild a projection from scratch,
    call :func:`forget_processed` first (and pass ``force``: every handler runs again, as asked).

    Raises :class:`ReplayOutsideWindow` when ``since`` is before the group's processed-id window (those
    events may be handled a second time); ``force=True`` replays anyway and logs it.
    """
    if since.tzinfo is None:
        since = since.astimezone()
    await check_replay_window(
        bus, channel, group, since, what=f"a replay since {since:%Y-%m-%d %H:%M:%S%z}", force=force
    )
    ms = int(since.timestamp() * 1000)
    await bus.redis.xgroup_setid(bus.keys.stream(channel), group, f"{max(0, ms - 1)}-0")
    # The publish script's cached floor was above the group's new position: let the next publish look again.
    await bus.redis.hset(bus.keys.retention(channel), "floor_until", 0)


async def forget_processed(bus: Bus, channel: str, group: str) -> None:
    """Drop every processed mark of the group (buckets, their index and count, the sorted set) in one step:
    the next replay runs every handler again (projection rebuilds)."""
    keys = bus.keys
    await bus.scripts.forget(
        keys=[
            keys.processed(channel, group),
            keys.processed_index(channel, group),
            keys.processed_count(channel, group),
        ]
    )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
