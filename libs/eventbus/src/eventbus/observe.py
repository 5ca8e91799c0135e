"""The one seam where a channel's consumer is observed: its Prometheus counters, its log lines (the
catalog's per-event line included, ``eventbus.eventlog``) and its tracing spans. The parts of the consumer
report what happened here and never touch ``metrics``, ``tracing`` or the loggers themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import structlog
from opentelemetry.trace import Span

from eventbus import metrics, tracing
from eventbus.envelope import Envelope
from eventbus.eventlog import EventLog

log = structlog.get_logger("eventbus.consumer")


class ChannelObserver:
    """What one channel's consumer reports, labelled by channel and group."""

    def __init__(self, channel: str, group: str, consumer: str, events: EventLog) -> None:
        self.channel = channel
        self.group = group
        labels = (channel, group)
        self._handled = metrics.HANDLED.labels(*labels)
        self._failed = metrics.FAILED.labels(*labels)
        self._retried = metrics.RETRIED.labels(*labels)
        self._outage_waits = metrics.OUTAGE_WAITS.labels(*labels)
        self._skipped = metrics.SKIPPED.labels(*labels)
        self._reclaimed = metrics.RECLAIMED.labels(*labels)
        self._wakeups_lost = metrics.WAKEUPS_LOST.labels(*labels)
        self._seconds = metrics.Tally(metrics.HANDLE_SECONDS.labels(*labels))
        self._events = events
        #: the channel's own lines (not about one event): group, consumer and channel bound
        self.log = log.bind(group=group, consumer=consumer, channel=channel)
        #: lines about the event being handled: its fields come from ``eventbus.context``
        self.event_log = log

    # -- counters -----------------------------------------------------------------------------------------

    def acknowledged(self, handled: int) -> None:
        if handled:
            self._handled.inc(handled)

    def skipped(self, duplicates: int) -> None:
        if duplicates:
            self._skipped.inc(duplicates)

    def reclaimed(self, entries: int) -> None:
        self._reclaimed.inc(entries)
        self.log.info("consumer_reclaimed", entries=entries)

    def wakeup_lost(self) -> None:
        self._wakeups_lost.inc()

    # -- handling -----------------------------------------------------------------------------------------

    def handled(self, event: Envelope[Any], attempt: int, seconds: float) -> None:
        """A handler succeeded after ``seconds`` (the whole call's, for a batch): its time, and the catalog's
        line. The line is written outside the event's logging context: that context would add the same fields
        again, at twice the cost of the line."""
        self._seconds.observe(seconds)
        if self._events.enabled:
            self._events.handled(event, self.group, attempt, seconds)

    def settling(self) -> None:
        """Acknowledgements are about to leave for Redis: the handled events' lines go to the OS first (a crash
        then loses no line of an acknowledged event), and their times join the histogram (once per batch)."""
        self._events.flush()
        self._seconds.fold()

    def failed(self) -> None:
        self._failed.inc()

    def retrying(self, exc: Exception, delay: float) -> None:
        self._retried.inc()
        self.event_log.warning("event_handler_failed", error=repr(exc)[:500], retry_in=round(delay, 3))

    def outage_wait(self) -> None:
        self._outage_waits.inc()

    def dead_lettered(self, event_type: str, reason: str, **fields: Any) -> None:
        metrics.DEAD_LETTERED.labels(event_type, self.group, reason).inc()
        self.event_log.error(
            "event_dead_lettered", reason=reason, channel=self.channel, group=self.group, **fields
        )

    # -- tracing ------------------------------------------------------------------------------------------

    #: whether an SDK records spans (``tracing.enabled``: the module's function itself, one call on the hot path)
    tracing = staticmethod(tracing.enabled)

    def span(self, event: Envelope[Any]) -> AbstractContextManager[Span | None]:
        """The consumer span of one handler call (nothing when tracing is off: the hot path of most handlers)."""
        if tracing.enabled():
            return tracing.handling(event, self.group)
        return nullcontext()

    def batch_spans(self, events: Sequence[Envelope[Any]]) -> AbstractContextManager[dict[str, Span]]:
        return tracing.handling_batch(events, self.group)

    @staticmethod
    def span_failed(spans: dict[str, Span], event_id: str, exc: Exception) -> None:
        if event_id in spans:
            tracing.failed(spans[event_id], exc)
