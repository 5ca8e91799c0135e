"""What a consumer group does with one channel: the handler, its retries, ordering, concurrency and timeout."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from eventbus import catalog
from eventbus.envelope import Envelope

Handler = Callable[[Envelope[Any]], Awaitable[None]]


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: attempt *n* waits ``initial·multiplier^(n-1)``, capped, times 0.5–1."""

    initial: float = 0.5
    multiplier: float = 2.0
    maximum: float = 60.0

    def delay(self, attempt: int) -> float:
        base = min(self.maximum, self.initial * self.multiplier ** max(0, attempt - 1))
        return base * random.uniform(0.5, 1.0)


@dataclass(frozen=True)
class Subscription:
    """How one group handles one channel.

    ``ordering_key`` names envelope fields (dotted paths, e.g. ``("company_id", "payload.lead_external_id")``):
    events with the same key are never handled concurrently, even across replicas, and run in publish
    order; other keys proceed in parallel up to ``concurrency``.
    """

    channel: str
    handler: Handler
    max_attempts: int = 5
    backoff: Backoff = field(default_factory=Backoff)
    ordering_key: tuple[str, ...] = ()
    concurrency: int = 16
    #: A handler running longer than this counts as a failed attempt (retried, then dead-lettered): a hung
    #: call must not hold its entry, its lease and its ordering key forever. ``None`` waits indefinitely.
    timeout: timedelta | None = timedelta(minutes=5)

    def __post_init__(self) -> None:
        catalog.channel(self.channel)  # the catalog is closed: subscribing to an unknown channel is a bug
        if self.max_attempts < 1 or self.concurrency < 1:
            raise ValueError("max_attempts and concurrency must be at least 1")
