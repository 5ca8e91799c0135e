"""The catalog's logging rule ("Observabilidade mínima"): every publish and every handled event writes one
structured line with the seven fields ``event.id``, ``event.type``, ``event.version``, ``company_id``,
``correlation_id``, ``causation_id`` and ``source``.

One line per event is the hot path's largest avoidable cost, so its level and its sampling are settings
(``BusSettings.event_log_level``/``event_log_sample``; ``EVENTBUS_EVENT_LOG_LEVEL``/``EVENTBUS_EVENT_LOG_SAMPLE``).
Sampling is decided by the event id, not by chance: every producer and consumer of one event keeps or skips
its lines alike, so a sampled event can be followed through the whole system.
"""

from __future__ import annotations

import logging
import zlib
from typing import Any, Protocol

import structlog

from eventbus.envelope import Envelope

#: The levels a setting may name; "off" writes no line at all.
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "off": None}
_SCALE = 1 << 32


class Writer(Protocol):
    """Writes the lines as JSON into a byte stream, set by a service's logging setup (servicekit.logging) when its
    lines are JSON into a byte stream. The lines then skip structlog's processor chain, which cost ~10 µs of the
    ~16 µs a handled event's line added to the consumer (bench/bus_throughput.py --event-log,
    docs/benchmarks.md): their fields are ids the bus wrote itself, with nothing to redact or scrub."""

    def write(self, level: str, fields: dict[str, Any]) -> None:
        """One line (level name, fields), buffered: not on its way to the OS before :meth:`flush`."""

    def flush(self) -> None: ...


_writer: Writer | None = None


def use_writer(writer: Writer | None) -> None:
    """The writer for the lines of every EventLog built from now on (None: through structlog)."""
    global _writer
    _writer = writer


class EventLog:
    """Writes the per-event lines at the configured level, for the sampled share of event ids."""

    def __init__(self, level: str = "info", sample: float = 1.0) -> None:
        self._level = LEVELS[level]
        self.sample = sample
        self._threshold = int(sample * _SCALE)
        # Resolved once, under the logging configuration of the moment (a service configures logging before it
        # builds its bus): every call through structlog's lazy proxy binds anew, ~2 µs per event.
        self._log = structlog.get_logger("eventbus.events").bind()
        writer = _writer
        self._write = writer.write if writer is not None else None
        #: sends the buffered lines to the OS (structlog's lines need none: it flushes each one)
        self.flush = writer.flush if writer is not None else _nothing
        self._level_name = logging.getLevelName(self._level).lower() if self._level is not None else "off"
        is_enabled_for = getattr(self._log, "is_enabled_for", None)
        writes = self._level is not None and (is_enabled_for is None or is_enabled_for(self._level))
        #: whether any line is written at all: a filtered level costs the hot path nothing
        self.enabled = writes and sample > 0

    def sampled(self, event_id: str) -> bool:
        """Whether ``event_id``'s lines are written: the same answer in every process (crc32, not ``hash``)."""
        if not self.enabled:
            return False
        return self._threshold >= _SCALE or zlib.crc32(event_id.encode()) < self._threshold

    def published(self, event: Envelope[Any], entry_id: str | None) -> None:
        if self.sampled(event.id):
            assert self._level is not None
            if self._write is not None:
                self._write(
                    self._level_name, {"event": "event_published", "entry_id": entry_id, **_fields(event)}
                )
                self.flush()  # at once: the publish took a round trip, and its caller may return right after
                return
            self._log.log(self._level, "event_published", entry_id=entry_id, **_fields(event))

    def handled(self, event: Envelope[Any], group: str, attempt: int, seconds: float) -> None:
        """Buffered when written straight: flushed before the event's acknowledgement leaves (:meth:`flush`)."""
        if self.sampled(event.id):
            assert self._level is not None
            if self._write is not None:
                # One dict, built once: merging the seven fields in cost a copy per line.
                self._write(
                    self._level_name,
                    {
                        "event": "event_handled",
                        "group": group,
                        "attempt": attempt,
                        "duration_ms": round(seconds * 1000, 3),
                        "event.id": event.id,
                        "event.type": event.type,
                        "event.version": event.version,
                        "company_id": event.company_id,
                        "correlation_id": event.correlation_id,
                        "causation_id": event.causation_id,
                        "source": event.source,
                    },
                )
                return
            self._log.log(
                self._level,
                "event_handled",
                group=group,
                attempt=attempt,
                duration_ms=round(seconds * 1000, 3),
                **_fields(event),
            )


def _fields(event: Envelope[Any]) -> dict[str, Any]:
    return {
        "event.id": event.id,
        "event.type": event.type,
        "event.version": event.version,
        "company_id": event.company_id,
        "correlation_id": event.correlation_id,
        "causation_id": event.causation_id,
        "source": event.source,
    }


def _nothing() -> None:
    pass
