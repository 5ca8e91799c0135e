"""Dead letters: list, inspect, replay (one or all, with the same event id) and purge.

Each consumer group has its own dead-letter stream per channel, beside the channel's stream (same hash
slot), so that moving an entry there and acknowledging it is one atomic step.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import ulid_transform

from eventbus.bus import Bus
from eventbus.envelope import format_timestamp
from eventbus.errors import (
    DeadLetterNotFound,
    InvalidEvent,
    PermanentFailure,
    UnknownEventType,
    UnsupportedVersion,
)
from eventbus.operations import check_replay_window

_REASON = re.compile(r"[a-z][a-z0-9_]{0,39}")


def reason_for(exc: Exception) -> str:
    """The short, stable reason a dead letter carries (also a metric label)."""
    if isinstance(exc, UnknownEventType):
        return "unknown_type"
    if isinstance(exc, UnsupportedVersion):
        return "unsupported_version"
    if isinstance(exc, InvalidEvent):
        return "invalid_event"
    if isinstance(exc, PermanentFailure):
        # A permanent failure may name a finer reason of its own (servicekit.outcomes.OutcomeUnknown says
        # "outcome_unknown": an operator must decide), kept short and stable as a metric label.
        own = getattr(exc, "reason", None)
        return own if isinstance(own, str) and _REASON.fullmatch(own) else "permanent_failure"
    return "handler_error"


def dead_letter_fields(
    entry_id: str,
    entry: dict[bytes, bytes],
    *,
    reason: str,
    error: Exception,
    event_id: str,
    channel: str,
    group: str,
    consumer: str,
    attempts: int,
) -> dict[str, str]:
    """What a dead letter records: the entry as it was, why, who gave up, after how many attempts, when."""
    published_ms = int(entry_id.split("-", 1)[0])
    return {
        "reason": reason,
        "error": f"{type(error).__name__}: {error}"[:2000],
        "event_id": event_id,
        "entry_id": entry_id,
        "channel": channel,
        "group": group,
        "consumer": consumer,
        "attempts": str(attempts),
        "published_at": format_timestamp(datetime.fromtimestamp(published_ms / 1000, UTC)),
        "dead_lettered_at": format_timestamp(datetime.now(UTC)),
        "entry": json.dumps(
            {k.decode(errors="replace"): v.decode(errors="replace") for k, v in entry.items()}
        ),
    }


@dataclass(frozen=True)
class DeadLetter:
    id: str
    channel: str
    group: str
    reason: str
    error: str
    event_id: str
    entry_id: str
    consumer: str
    attempts: int
    published_at: str
    dead_lettered_at: str
    #: The stream entry as it was (``i``, ``t``, ``v``, ``e`` …); ``e`` is the envelope JSON, if there was one.
    entry: dict[str, str]

    @classmethod
    def from_stream(cls, dead_id: bytes | str, fields: dict[bytes, bytes]) -> DeadLetter:
        f = {k.decode(): v.decode(errors="replace") for k, v in fields.items()}
        return cls(
            id=dead_id.decode() if isinstance(dead_id, bytes) else dead_id,
            channel=f.get("channel", ""),
            group=f.get("group", ""),
            reason=f.get("reason", ""),
            error=f.get("error", ""),
            event_id=f.get("event_id", ""),
            entry_id=f.get("entry_id", ""),
            consumer=f.get("consumer", ""),
            attempts=int(f.get("attempts", "0") or 0),
            published_at=f.get("published_at", ""),
            dead_lettered_at=f.get("dead_lettered_at", ""),
            entry=json.loads(f.get("entry", "{}")),
        )

    def published(self) -> datetime:
        """When its event was first published, as far as can be told: the earlier of its event id's time (a
        ULID) and its entry's (later for an entry that was itself a replay)."""
        entry_ms = int(self.entry_id.split("-", 1)[0]) if self.entry_id[:1].isdigit() else None
        event_ms = None
        if self.event_id.startswith("evt_"):
            with contextlib.suppress(ValueError):  # not a ULID: the entry's time alone
                event_ms = int(ulid_transform.ulid_to_timestamp(self.event_id[4:]))  # milliseconds
        known = [ms for ms in (entry_ms, event_ms) if ms is not None]
        return datetime.fromtimestamp(min(known) / 1000, UTC) if known else datetime.fromtimestamp(0, UTC)

    def public(self) -> dict[str, Any]:
        """A JSON-ready view (for the API and CLI)."""
        return self.__dict__.copy()


class DeadLetters:
    """Operations on one group's dead letters of one channel."""

    def __init__(self, bus: Bus, channel: str, group: str) -> None:
        self.bus = bus
        self.channel = channel
        self.group = group
        self.key = bus.keys.dead_letters(channel, group)
        self.stream = bus.keys.stream(channel)

    async def count(self) -> int:
        return int(await self.bus.redis.xlen(self.key))

    async def list(self, *, count: int = 50, after: str | None = None) -> list[DeadLetter]:
        """Oldest first; pass the last id seen as ``after`` for the next page."""
        start = f"({after}" if after else "-"
        rows = await self.bus.redis.xrange(self.key, start, "+", count=count)
        return [DeadLetter.from_stream(i, f) for i, f in rows or []]  # type: ignore[arg-type]

    async def get(self, dead_id: str) -> DeadLetter:
        rows = await self.bus.redis.xrange(self.key, dead_id, dead_id, count=1)
        if not rows:
            raise DeadLetterNotFound(dead_id)
        return DeadLetter.from_stream(*rows[0])  # type: ignore[arg-type]

    async def replay(self, dead_id: str, *, force: bool = False) -> str:
        """Put the original entry back on the channel's stream for this group only (other groups skip it),
        with the same event id, and remove the dead letter, atomically. Returns the new entry id.

        Raises :class:`~eventbus.errors.ReplayOutsideWindow` for an event published before the group's
        processed-id window (``force=True`` replays it anyway, logged)."""
        letter = await self.get(dead_id)
        await check_replay_window(
            self.bus, self.channel, self.group, letter.published(), what=f"dead letter {dead_id}", force=force
        )
        return await self._put_back(letter)

    async def _put_back(self, letter: DeadLetter) -> str:
        fields: dict[str, str] = {k: v for k, v in letter.entry.items() if k != "g"}
        fields["g"] = self.group
        async with self.bus.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(self.stream, fields)  # type: ignore[arg-type]
            pipe.xdel(self.key, letter.id)
            entry_id, _ = await pipe.execute()
        return str(entry_id.decode())

    async def replay_all(self, *, force: bool = False) -> int:
        """Replay every dead letter; none at all when one is outside the processed-id window, unless forced."""
        oldest: DeadLetter | None = None
        after = None
        while letters := await self.list(count=500, after=after):
            for letter in letters:
                if oldest is None or letter.published() < oldest.published():
                    oldest = letter
            after = letters[-1].id
        if oldest is None:
            return 0
        await check_replay_window(
            self.bus,
            self.channel,
            self.group,
            oldest.published(),
            what="replaying every dead letter",
            force=force,
        )
        replayed = 0
        while letters := await self.list(count=100):
            for letter in letters:
                await self._put_back(letter)
                replayed += 1
        return replayed

    async def purge(self, dead_id: str | None = None) -> int:
        """Delete one dead letter, or all of them. Returns how many were deleted."""
        if dead_id is not None:
            return int(await self.bus.redis.xdel(self.key, dead_id))
        size = await self.count()
        await self.bus.redis.delete(self.key)
        return size
