"""What a consumer group does with one channel: the handler, its retries, ordering, concurrency and timeout."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from eventbus import catalog
from eventbus.envelope import Envelope

Handler = Callable[[Envelope[Any]], Awaitable[None]]
#: Handles several events in one call; returns one outcome per event, in order: ``None`` for handled, or the
#: exception that event failed with (see :class:`Subscription`).
BatchHandler = Callable[[Sequence[Envelope[Any]]], Awaitable[Sequence[Exception | None]]]


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

    ``batch_handler`` instead of ``handler`` takes up to ``max_batch`` events per call: those ready to run when
    it is called (never more than one per ordering key, and it never waits to fill a batch). Each phase of the
    work can then run for the whole batch at once, and its Redis calls share round trips without a task or a
    future per event (agent-runtime's handler; docs/architecture.md). It returns one outcome per event, in
    order: ``None`` when handled, else the exception that event failed with, which is retried like a
    handler's (``PermanentFailure``: dead-lettered at once). Raising, or returning the wrong number of
    outcomes, fails every event of the call. During the call no single event is the current one
    (``eventbus.context``): pass ``correlation_id``/``causation_id`` to ``Envelope.new``, or enter
    ``context.handling(event)`` around one event's work. ``concurrency`` bounds the events in flight across
    calls; each call runs in its own task. With tracing on, each event gets its own consumer span, none of
    them current: what the handler publishes with one of the batch's events as its cause (``causation_id``)
    becomes a child of that event's span.
    """

    channel: str
    handler: Handler | None = None
    max_attempts: int = 5
    backoff: Backoff = field(default_factory=Backoff)
    ordering_key: tuple[str, ...] = ()
    concurrency: int = 16
    #: A handler running longer than this counts as a failed attempt (retried, then dead-lettered): a hung
    #: call must not hold its entry, its lease and its ordering key forever. ``None`` waits indefinitely.
    timeout: timedelta | None = timedelta(minutes=5)
    batch_handler: BatchHandler | None = None
    max_batch: int = 64
    #: How long an event waits after its handler reports an outage (``eventbus.Outage``: by the event's
    #: outages so far, unless the ``Outage`` gives ``retry_after``), and how long the channel pauses when Redis
    #: is away in a handler (a refused publish, the handler's own commands), by consecutive ones. No attempt is
    #: counted for an outage, so waiting it out never ends in a dead letter.
    outage_backoff: Backoff = field(default_factory=lambda: Backoff(initial=0.25, maximum=10.0))

    def __post_init__(self) -> None:
        catalog.channel(self.channel)  # the catalog is closed: subscribing to an unknown channel is a bug
        if self.max_attempts < 1 or self.concurrency < 1 or self.max_batch < 1:
            raise ValueError("max_attempts, concurrency and max_batch must be at least 1")
        if (self.handler is None) == (self.batch_handler is None):
            raise ValueError("a subscription takes a handler or a batch_handler, exactly one")
