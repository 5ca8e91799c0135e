"""Structured JSON logs with the catalog's fields, and nothing secret in them.

Lines written while an event is handled carry ``event.id``, ``event.type``, ``event.version``, ``company_id``,
``correlation_id``, ``causation_id`` and ``source`` (``eventbus.add_event_fields``);
uvicorn's and the standard library's records go through the same renderer.

No input values either: pydantic writes the offending input into a ValidationError's text
(``[type=int_parsing, input_value='+55 11 …', input_type=str]``), and that text reaches a line through
``repr(exc)``, ``str(exc)`` or a rendered traceback. ``scrub_inputs`` cuts it out of every string the line
carries, whatever put it there, so the line keeps the field and the rule and loses the value.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import MutableMapping
from typing import Any, BinaryIO

import orjson
import structlog
from eventbus import add_event_fields, eventlog

#: Keys whose values never reach a log line, whatever a caller binds.
SECRET_KEYS = frozenset(
    {
        "authorization",
        "api_key",
        "apikey",
        "access_token",
        "token",
        "secret",
        "password",
        "x-api-key",
        "webhook_secret",
        "signature",
    }
)


def redact_secrets(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in event_dict.keys() & SECRET_KEYS:
        event_dict[key] = "[redacted]"
    return event_dict


#: pydantic's ``input_value=<repr>, input_type=<type>]``: to the last such marker on the line (an input may
#: contain the marker itself), or to the end of the line when a truncated ``repr`` lost the marker.
_INPUT_VALUE = re.compile(r"input_value=(?:.*, (?=input_type=[\w.]+\])|.*$)", re.MULTILINE)


def scrub_inputs(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in event_dict.items():
        if isinstance(value, str) and "input_value=" in value:
            event_dict[key] = _INPUT_VALUE.sub("input_value=[hidden], ", value)
    return event_dict


def configure_logging(service: str, *, level: str = "INFO", json: bool = True) -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        add_event_fields,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    # structlog's own lines: orjson into the byte stream, half the CPU of the stdlib renderer and a text writer
    # (~9 against ~18 µs a line here); the same JSON. The stdlib records below keep the text renderer, which
    # their formatter needs.
    fast = json and hasattr(sys.stdout, "buffer")
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            scrub_inputs,
            structlog.processors.JSONRenderer(serializer=orjson.dumps) if fast else renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.BytesLoggerFactory(sys.stdout.buffer)
        if fast
        else structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    eventlog.use_writer(event_line_writer(service) if fast else None)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                scrub_inputs,
                renderer,
            ],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def event_line_writer(service: str) -> EventLineWriter:
    """The bus's line per published and handled event (eventbus.eventlog), written as structlog would write it
    (the same keys, the ISO timestamp in UTC) without its processor chain: the line is on the hot path."""
    return EventLineWriter(service)


class EventLineWriter:
    """Writes the bus's lines into stdout's buffer; ``flush`` sends what is buffered to the OS.

    No flush per line: each one is a ``write`` system call, a third of the line's cost. The bus flushes the
    handled events' lines before their acknowledgements leave for Redis (``eventbus.reader``), and a published
    event's line at once: a crash loses at most the lines of events the stream still holds unacknowledged, and
    those are delivered, handled and logged again. The other lines (structlog's, flushed one by one) flush
    these too, in order.
    """

    def __init__(self, service: str) -> None:
        self._service = service
        self._stream: BinaryIO | None = None
        self._clock = UtcClock()

    def write(self, level: str, fields: dict[str, Any]) -> None:
        fields["service"] = self._service
        fields["level"] = level
        fields["timestamp"] = self._clock.now()
        # Looked up each time, as print() does: stdout may be replaced.
        self._stream = stream = sys.stdout.buffer
        stream.write(orjson.dumps(fields, option=orjson.OPT_APPEND_NEWLINE))

    def flush(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.flush()


class UtcClock:
    """The lines' ISO 8601 UTC timestamp with a ``Z``, as structlog's ``TimeStamper(fmt="iso", utc=True)`` writes
    it but to the millisecond, as the envelope's ``occurred_at``: made once per millisecond and reused by the
    lines written within it (``datetime.now(UTC).isoformat()`` cost ~1.5 µs a line; under load a consumer
    writes several lines a millisecond)."""

    def __init__(self) -> None:
        self._millis = -1
        self._second = -1
        self._date_time = ""
        self._stamp = ""

    def now(self) -> str:
        millis = time.time_ns() // 1_000_000
        if millis != self._millis:
            self._millis = millis
            second, fraction = divmod(millis, 1000)
            if second != self._second:
                self._second = second
                self._date_time = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._stamp = f"{self._date_time}.{fraction:03d}Z"
        return self._stamp
