"""What every part of a channel's consumer shares and never changes: the subscription, the consumer's
settings, the channel's keys and its connections."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eventbus.bus import Bus
from eventbus.lanes import Lane
from eventbus.subscription import Subscription

if TYPE_CHECKING:
    from eventbus.consumer import Consumer


@dataclass(frozen=True)
class ChannelSetup:
    consumer: Consumer
    sub: Subscription
    bus: Bus
    stream: str
    #: the consumer scripts' keys: stream, processed ids (sorted set), leases, ordering queue, processed
    #: buckets' index and count (``lua/prelude.lua``)
    script_keys: list[str]
    dead_letters: str
    lease_ms: int
    #: the ordering key's paths as the scripts read them ('' for none)
    paths: str
    #: the handler's timeout in seconds, or None
    timeout: float | None
    #: the read-and-settle scripts' connection, sent at once (``eventbus.lanes``)
    lane: Lane
    #: and the blocking wait's, so that acknowledgements can go out meanwhile
    block_lane: Lane

    @classmethod
    def of(cls, consumer: Consumer, sub: Subscription) -> ChannelSetup:
        bus = consumer.bus
        keys = bus.keys
        stream = keys.stream(sub.channel)
        return cls(
            consumer=consumer,
            sub=sub,
            bus=bus,
            stream=stream,
            script_keys=[
                stream,
                keys.processed(sub.channel, consumer.group),
                keys.leases(sub.channel, consumer.group),
                keys.order(sub.channel, consumer.group),
                # The buckets themselves are named inside the scripts (from the event ids, same hash tag).
                keys.processed_index(sub.channel, consumer.group),
                keys.processed_count(sub.channel, consumer.group),
            ],
            dead_letters=keys.dead_letters(sub.channel, consumer.group),
            lease_ms=consumer.visibility_ms,
            paths=json.dumps(list(sub.ordering_key)) if sub.ordering_key else "",
            timeout=sub.timeout.total_seconds() if sub.timeout is not None else None,
            lane=Lane(bus.redis, stream),
            block_lane=Lane(bus.redis, stream),
        )

    @property
    def leases(self) -> str:
        return self.script_keys[2]

    @property
    def order(self) -> str:
        return self.script_keys[3]
