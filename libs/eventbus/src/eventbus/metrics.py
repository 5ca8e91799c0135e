"""Prometheus metrics of the bus, on the default registry so that a service's ``/metrics`` shows them.

Per-group lag, pending and dead-letter sizes are read from Redis by :func:`eventbus.operations.group_stats`
and set here periodically by each consumer (a scrape must not wait on Redis).
"""

from __future__ import annotations

from bisect import bisect_left

from prometheus_client import Counter, Gauge, Histogram

PUBLISHED = Counter("eventbus_published_total", "Events appended to their stream", ["type", "source"])
PUBLISH_DEDUPED = Counter(
    "eventbus_publish_deduplicated_total", "Publishes answered with an earlier event's id", ["type"]
)
HANDLED = Counter("eventbus_handled_total", "Events whose handler succeeded", ["type", "group"])
FAILED = Counter("eventbus_failed_total", "Handler attempts that raised", ["type", "group"])
OUTAGE_WAITS = Counter(
    "eventbus_outage_waits_total",
    "Events put back without an attempt counted because a dependency was down (Outage, Redis away)",
    ["type", "group"],
)
RETRIED = Counter("eventbus_retried_total", "Attempts scheduled again after a failure", ["type", "group"])
DEAD_LETTERED = Counter(
    "eventbus_dead_lettered_total", "Events moved to dead letters", ["type", "group", "reason"]
)
SKIPPED = Counter(
    "eventbus_skipped_duplicates_total",
    "Deliveries of already-processed events, acknowledged",
    ["type", "group"],
)
RECLAIMED = Counter("eventbus_reclaimed_total", "Entries taken over from a dead consumer", ["type", "group"])
WAKEUPS_LOST = Counter(
    "eventbus_idle_wakeups_lost_total",
    "Idle waits woken by a new entry that another replica of the group took first",
    ["type", "group"],
)
HANDLE_SECONDS = Histogram(
    "eventbus_handle_seconds",
    "Handler latency",
    ["type", "group"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
GROUP_LAG = Gauge("eventbus_group_lag", "Entries not yet delivered to the group", ["type", "group"])
GROUP_PENDING = Gauge("eventbus_group_pending", "Entries delivered, not yet acknowledged", ["type", "group"])
GROUP_DROPPED = Gauge(
    "eventbus_group_dropped_unread",
    "Entries the stream's hard ceiling (BusSettings.stream_ceiling) dropped before the group handled them, in all",
    ["type", "group"],
)
GROUP_DEAD_LETTERS = Gauge("eventbus_group_dead_letters", "Dead letters retained", ["type", "group"])
ACK_SHORTFALL = Counter(
    "eventbus_write_ack_shortfall_total",
    "Writes whose WAIT/WAITAOF acknowledgement level was not reached in time (BusSettings.ack_*)",
)


class Tally:
    """Observations of one labelled histogram, counted here and added to it by :meth:`fold`, once per batch.

    ``Histogram.observe`` takes a lock for the sum and one for the bucket, ~1 µs per handled event on the
    consumer's hot path; counting here is a bisect and two additions. The folded histogram is the same as
    one observed value by value. This reaches into the child's ``_upper_bounds``, ``_buckets`` and ``_sum``
    (prometheus-client has no bulk observe); ``tests/test_observability.py`` checks the exported series.
    """

    def __init__(self, child: Histogram) -> None:
        self._child = child
        self._bounds: list[float] = list(child._upper_bounds)  # ends with +Inf: every value has a bucket
        self._counts = [0] * len(self._bounds)
        self._sum = 0.0
        self._observed = 0

    def observe(self, value: float) -> None:
        # bisect_left: the first bound >= value, as Histogram.observe's "value <= bound".
        self._counts[bisect_left(self._bounds, value)] += 1
        self._sum += value
        self._observed += 1

    def fold(self) -> None:
        """Add what was counted since the last fold to the histogram."""
        if not self._observed:
            return
        counts, buckets = self._counts, self._child._buckets
        for i, count in enumerate(counts):
            if count:
                buckets[i].inc(count)
                counts[i] = 0
        self._child._sum.inc(self._sum)
        self._sum = 0.0
        self._observed = 0
