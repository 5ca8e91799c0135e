"""Per-message outcomes of a batch handler's call, kept by the bus's type rather than by each handler.

A batch handler answers with one outcome per event, in order: ``None`` when handled, else the exception that
event failed with, which the bus retries or dead-letters for that event alone (``batch_workers.py``). A handler
that works in phases over the whole batch builds the answer with :class:`BatchOutcomes`: a step that fails
for one message records the error as that message's outcome, and later phases skip it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Generic, TypeVar, overload

E = TypeVar("E")
T = TypeVar("T")


class BatchOutcomes(Sequence[Exception | None], Generic[E]):
    """The outcomes of a batch of ``events``, all ``None`` (handled) until a step records a failure. It is the
    ``Sequence[Exception | None]`` a batch handler returns."""

    def __init__(self, events: Sequence[E]) -> None:
        self.events = events
        self._outcomes: list[Exception | None] = [None] * len(events)

    def failed(self, i: int, exc: Exception) -> None:
        """Message ``i`` failed with ``exc``; its first failure is the one kept (the cause, not a consequence)."""
        if self._outcomes[i] is None:
            self._outcomes[i] = exc

    def ok(self, i: int) -> bool:
        return self._outcomes[i] is None

    def pending(self) -> list[int]:
        """The messages no step has failed for, in order."""
        return [i for i, outcome in enumerate(self._outcomes) if outcome is None]

    def each(self, which: Iterable[int], step: Callable[[int], T]) -> dict[int, T]:
        """``step`` for each message of ``which``; those it raised for are failed and left out."""
        done: dict[int, T] = {}
        for i in which:
            try:
                done[i] = step(i)
            except Exception as exc:
                self.failed(i, exc)
        return done

    def collect(self, which: Iterable[int], results: Iterable[T | Exception]) -> dict[int, T]:
        """A batched call's results, one per message of ``which`` in order; those that are errors are failed
        and left out."""
        done: dict[int, T] = {}
        for i, result in zip(which, results, strict=True):
            if isinstance(result, Exception):
                self.failed(i, result)
            else:
                done[i] = result
        return done

    def __len__(self) -> int:
        return len(self._outcomes)

    @overload
    def __getitem__(self, index: int) -> Exception | None: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Exception | None]: ...
    def __getitem__(self, index: int | slice) -> Exception | Sequence[Exception | None] | None:
        return self._outcomes[index]

    def __iter__(self) -> Iterator[Exception | None]:
        return iter(self._outcomes)

    def __repr__(self) -> str:
        failed = sum(outcome is not None for outcome in self._outcomes)
        return f"BatchOutcomes({len(self)} messages, {failed} failed)"
