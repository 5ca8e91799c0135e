"""Tunables of the bus, with the defaults derived in ``docs/retention.md``."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

EventLogLevel = Literal["debug", "info", "warning", "off"]


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


class BusSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    prefix: str = Field("wb", min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")
    live_prefix: str = ""
    #: Length past which each channel's stream drops its oldest entries, once every consumer group is done with
    #: them (acknowledged, or never to be delivered to it); 0 disables the length bound. A lagging group holds
    #: the stream longer, up to ``stream_ceiling`` (docs/retention.md).
    stream_maxlen: int = Field(1_000_000, ge=0)
    #: Entries older than this are trimmed once every group is done with them; the replay window of every channel.
    stream_max_age: timedelta = timedelta(days=7)
    #: The hard cap on each stream's length: past it the oldest entries go even if a group has not read them,
    #: and each group's loss is counted (``eventbus_group_dropped_unread``, ``wolfgang consumers``, ``/readyz``
    #: degraded). None: twice ``stream_maxlen``; 0: no hard cap (memory is then bounded by the slowest group).
    stream_ceiling: int | None = Field(None, ge=0)
    #: How long a consumer remembers a processed event id. Must cover the stream's age: anything still in
    #: the stream can be redelivered (a replay, a reclaim), and must still be recognised.
    processed_retention: timedelta = timedelta(days=8)
    #: And at most this many ids per (channel, group); 0 means no count bound. At least ``stream_maxlen``.
    processed_maxlen: int = Field(1_250_000, ge=0)
    #: How long a producer idempotency key answers with the first event's id: senders retry within hours
    #: (Evolution gives up after 10 attempts), and each key costs ~245 bytes (docs/retention.md).
    dedupe_retention: timedelta = timedelta(days=1)
    dead_letter_maxlen: int = Field(100_000, ge=1)
    #: Use SPUBLISH (sharded Pub/Sub) for live taps; always on with a Redis Cluster URL.
    sharded_pubsub: bool = False
    #: With sharded live channels (a cluster), also announce each event with a classic ``PUBLISH`` under the
    #: catalog's exact channel name (``message.received``), so that a consumer following the catalog hears it
    #: on any node. Redis Cluster forwards a classic PUBLISH to every node over the cluster bus: turn it off
    #: where nobody subscribes by the catalog's names and that traffic matters (docs/cluster.md).
    exact_name_pubsub: bool = True
    #: Write acknowledgement (docs/cluster.md): after each publish and each batch of processed marks, wait
    #: until this many replicas hold the write (``WAIT``). 0 = the primary's word is enough.
    ack_replicas: int = Field(0, ge=0)
    #: Also wait until the write is fsynced to the primary's AOF (and to the replicas' AOF when
    #: ``ack_replicas`` > 0): ``WAITAOF``, Redis ≥ 7.2 / Valkey ≥ 8.0, with ``appendonly yes``.
    ack_fsync: bool = False
    #: How long to wait for those acknowledgements before the publish fails with WriteNotAcknowledged.
    ack_timeout: timedelta = timedelta(seconds=1)
    #: The level of the line every publish and every handled event writes (the catalog's logging rule,
    #: ``eventbus.eventlog``); "off" writes none. Default from ``EVENTBUS_EVENT_LOG_LEVEL``, else "info".
    event_log_level: EventLogLevel = Field(
        default_factory=lambda: _env("EVENTBUS_EVENT_LOG_LEVEL", "info").lower(),
        validate_default=True,
    )
    #: The share of event ids whose lines are written (by id: every service keeps or skips the same events).
    #: Default from ``EVENTBUS_EVENT_LOG_SAMPLE``, else 1.0 (all).
    event_log_sample: float = Field(
        default_factory=lambda: float(_env("EVENTBUS_EVENT_LOG_SAMPLE", "1.0")),
        ge=0.0,
        le=1.0,
        validate_default=True,
    )

    @property
    def ceiling(self) -> int:
        """``stream_ceiling`` with its default applied."""
        return self.stream_maxlen * 2 if self.stream_ceiling is None else self.stream_ceiling

    @model_validator(mode="after")
    def _processed_outlives_stream(self) -> BusSettings:
        if self.processed_retention < self.stream_max_age:
            raise ValueError("processed_retention must be at least stream_max_age")
        if self.processed_maxlen and (not self.stream_maxlen or self.processed_maxlen < self.stream_maxlen):
            raise ValueError("processed_maxlen must be 0 or at least stream_maxlen (and the stream capped)")
        if self.stream_ceiling and self.stream_maxlen and self.stream_ceiling < self.stream_maxlen:
            raise ValueError("stream_ceiling must be 0 or at least stream_maxlen")
        return self
