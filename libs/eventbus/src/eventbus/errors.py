"""Every error the event bus raises, and what each one means for delivery.

EventBusError
  BusUnavailable          Redis unreachable or refused the write → HTTP 503; the caller may retry
    WriteNotAcknowledged  written, but fewer replicas/fsyncs than asked confirmed it in time → 503, retry
  InvalidEvent            fails the catalog → HTTP 422 on publish, a dead letter on consume
    UnknownEventType      the catalog has no such channel (the catalog is closed)
    UnsupportedVersion    the channel exists, this payload version does not
    MalformedEntry        a stream entry that is not JSON or not an envelope
  PermanentFailure        a handler says retrying cannot help → dead letter at once
  Outage                  a handler says a dependency is down (nothing was done) → wait, no attempt counted
  HandlerTimeout          a handler outlived its subscription's timeout → a failed attempt (retried)
  DeadLetterNotFound      no dead letter with that id
  ReplayOutsideWindow     a replay of events older than the processed-id window → refused unless forced
"""

from __future__ import annotations


class EventBusError(Exception):
    """Root of the bus's errors; catch this to catch them all."""


class BusUnavailable(EventBusError):
    """Redis could not be reached or refused the write. Nothing was published; retry later."""


class WriteNotAcknowledged(BusUnavailable):
    """The primary took the write but the asked-for acknowledgement level (``WAIT`` / ``WAITAOF``) was not
    reached in time, so the write may not survive losing that primary. Retrying with the same idempotency
    key is safe: if the first write survived, the retry returns its event id and publishes nothing."""


class InvalidEvent(EventBusError):
    """The event does not satisfy the catalog. Retrying the same bytes cannot help."""


class UnknownEventType(InvalidEvent):
    def __init__(self, event_type: str) -> None:
        super().__init__(f"unknown event type {event_type!r}: the catalog is closed")
        self.event_type = event_type


class UnsupportedVersion(InvalidEvent):
    def __init__(self, event_type: str, version: object) -> None:
        super().__init__(f"unsupported version {version!r} of {event_type!r}")
        self.event_type = event_type
        self.version = version


class MalformedEntry(InvalidEvent):
    """A stream entry that cannot be read as an envelope (not JSON, missing fields, wrong types)."""


class PermanentFailure(EventBusError):
    """Raised by a handler when retrying cannot help (a 400 from an API, data that will never fit).

    The consumer dead-letters the event at once with this error's message as the reason.
    """


class Outage(EventBusError):
    """Raised by a handler (or a library it calls) when a dependency it needs is down and nothing was done:
    Redis loading or unreachable, an upstream's circuit open, a connection refused before any byte went out.

    An outage is not a failure of the event: the consumer puts the event back without counting an attempt and
    pauses before trying again, so an outage never exhausts the attempts that lead to a dead letter.
    Raise it only when the side effect provably did not happen; an ambiguous outcome is never an outage.
    """

    def __init__(self, message: str = "dependency unavailable", *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class HandlerTimeout(EventBusError, TimeoutError):
    """A handler ran longer than its subscription's ``timeout``; the attempt counts as failed and is retried."""


class DeadLetterNotFound(EventBusError):
    def __init__(self, dead_letter_id: str) -> None:
        super().__init__(f"no dead letter {dead_letter_id!r}")
        self.dead_letter_id = dead_letter_id


class ReplayOutsideWindow(EventBusError):
    """A replay reaches events published before the group's processed-id window: the group may have handled
    them and forgotten it (processed ids are kept ``processed_retention`` and at most ``processed_maxlen``), so
    replaying them may repeat their side effects. Refused unless forced; a forced replay is logged."""

    def __init__(self, what: str, published: str, window_start: str) -> None:
        super().__init__(
            f"{what} reaches events published at {published}, before {window_start}, where the group's memory "
            "of processed events begins: the group may have handled them already and would run their side "
            "effects again. Replay only what is newer, or force it (force=True, `--force` in the CLI) once "
            "you know the side effects are safe to repeat"
        )
        self.published = published
        self.window_start = window_start
