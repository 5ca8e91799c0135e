"""The event being handled right now, so that whatever a handler publishes inherits its thread.

A ``ContextVar`` rather than an argument: handlers call ordinary service code that publishes, and threading
the cause through every call would leak bus plumbing into domain code. asyncio copies the context into each
task, so concurrent handlers never see each other's event.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eventbus.envelope import Envelope

_current: ContextVar[Envelope[Any] | None] = ContextVar("eventbus_current_event", default=None)


def current_event() -> Envelope[Any] | None:
    """The envelope whose handler is running in this task, if any."""
    return _current.get()


@contextmanager
def handling(event: Envelope[Any]) -> Iterator[None]:
    token = _current.set(event)
    try:
        yield
    finally:
        _current.reset(token)
