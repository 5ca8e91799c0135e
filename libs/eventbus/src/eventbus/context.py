"""The event being handled right now, so that whatever a handler publishes or logs inherits its thread.

A ``ContextVar`` rather than an argument: handlers call ordinary service code that publishes, and threading
the cause through every call would leak bus plumbing into domain code. asyncio copies the context into each
task, so concurrent handlers never see each other's event.

The same variable feeds :func:`add_event_fields`, a structlog processor: every log line written while an
event is handled carries the catalog's fields, at no cost per event (nothing is bound unless a line is
actually logged).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eventbus.envelope import Envelope

_current: ContextVar[tuple[Envelope[Any], dict[str, Any]] | None] = ContextVar(
    "eventbus_current_event", default=None
)
#: The id of the HTTP request being served in this task (set by the service's request middleware).
_request_id: ContextVar[str | None] = ContextVar("eventbus_request_id", default=None)
#: The events of the batch handler's call running in this task, by id (a batch has no single current event).
_batch: ContextVar[Mapping[str, Envelope[Any]] | None] = ContextVar("eventbus_batch_events", default=None)


def current_event() -> Envelope[Any] | None:
    """The envelope whose handler is running in this task, if any."""
    current = _current.get()
    return current[0] if current is not None else None


@contextmanager
def handling(event: Envelope[Any], **fields: Any) -> Iterator[None]:
    """Mark ``event`` as the one being handled; ``fields`` (group, attempt) join its log lines."""
    token = enter(event, fields)
    try:
        yield
    finally:
        leave(token)


def enter(event: Envelope[Any], fields: dict[str, Any]) -> Token[tuple[Envelope[Any], dict[str, Any]] | None]:
    """:func:`handling` without the context manager, for the consumer's hot path (a generator-based
    context manager costs ~10 µs per event there)."""
    return _current.set((event, fields))


def leave(token: Token[tuple[Envelope[Any], dict[str, Any]] | None]) -> None:
    _current.reset(token)


def bind_request_id(request_id: str | None) -> Token[str | None]:
    """Name the HTTP request served in this task: events published meanwhile carry its id (``request_id``).
    Undo with :func:`unbind_request_id`."""
    return _request_id.set(request_id)


def unbind_request_id(token: Token[str | None]) -> None:
    _request_id.reset(token)


def current_request_id(causation_id: str | None = None) -> str | None:
    """The request this task serves, else the request behind the event it handles (in a batch handler's call:
    behind the batch's event ``causation_id``): so the id of the webhook that started a conversation turn
    reaches the reply, its log lines and the calls made for it."""
    request_id = _request_id.get()
    if request_id is not None:
        return request_id
    current = _current.get()
    if current is not None:
        return current[0].request_id
    batch = _batch.get()
    cause = batch.get(causation_id) if batch is not None and causation_id is not None else None
    return cause.request_id if cause is not None else None


def enter_batch(events: Sequence[Envelope[Any]]) -> Token[Mapping[str, Envelope[Any]] | None]:
    """Mark ``events`` as the batch being handled in this task; undo with :func:`leave_batch`."""
    return _batch.set({event.id: event for event in events})


def leave_batch(token: Token[Mapping[str, Envelope[Any]] | None]) -> None:
    _batch.reset(token)


def add_event_fields(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the handled event's catalog fields (``event.id``, ``event.type``, ``event.version``,
    ``company_id``, ``correlation_id``, ``causation_id``, ``source``) plus group and attempt, on every line."""
    current = _current.get()
    if current is not None:
        event, fields = current
        for key, value in (*event.log_fields().items(), *fields.items()):
            event_dict.setdefault(key, value)
    return event_dict
