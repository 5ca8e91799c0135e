"""What operators ask of the bus: group lag and pending counts, history replays, rebuild resets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from redis.exceptions import ResponseError

from eventbus import metrics
from eventbus.bus import Bus


@dataclass(frozen=True)
class GroupStats:
    group: str
    consumers: int
    pending: int
    #: Entries in the stream not yet delivered to the group (``XINFO GROUPS`` lag; None when Redis can't tell).
    lag: int | None
    last_delivered_id: str
    dead_letters: int

    def export(self, channel: str) -> None:
        metrics.GROUP_PENDING.labels(channel, self.group).set(self.pending)
        metrics.GROUP_DEAD_LETTERS.labels(channel, self.group).set(self.dead_letters)
        if self.lag is not None:
            metrics.GROUP_LAG.labels(channel, self.group).set(self.lag)


async def group_stats(bus: Bus, channel: str) -> list[GroupStats]:
    """One row per consumer group of ``channel`` (empty when the stream does not exist yet)."""
    try:
        groups = await bus.redis.xinfo_groups(bus.keys.stream(channel))
    except ResponseError:
        return []
    rows = []
    for info in groups:
        name = _text(info["name"])
        dead = await bus.redis.xlen(bus.keys.dead_letters(channel, name))
        lag = info.get("lag")
        rows.append(
            GroupStats(
                group=name,
                consumers=int(info["consumers"]),
                pending=int(info["pending"]),
                lag=int(lag) if lag is not None else None,
                last_delivered_id=_text(info["last-delivered-id"]),
                dead_letters=int(dead),
            )
        )
    return rows


async def replay_since(bus: Bus, channel: str, group: str, since: datetime) -> None:
    """Deliver the channel's retained history from ``since`` to ``group`` again.

    Moves the group's position back (``XGROUP SETID``); already-processed events are acknowledged and
    skipped by the consumers, so side effects still happen once. To rebuild a projection from scratch,
    call :func:`forget_processed` first.
    """
    ms = int(since.timestamp() * 1000)
    await bus.redis.xgroup_setid(bus.keys.stream(channel), group, f"{max(0, ms - 1)}-0")


async def forget_processed(bus: Bus, channel: str, group: str) -> None:
    """Drop the group's processed-id set: the next replay runs every handler again (projection rebuilds)."""
    await bus.redis.delete(bus.keys.processed(channel, group))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
