"""The answers this process published and has not cut down yet, by lead (``store.py``: the cut).

The lead's next commit takes them (``take``) and cuts them in its own script; ``Store.sweep`` cuts those older
than ``AGENT_CUT_AFTER`` (``due``). Kept in publish order per lead, the leads in the order of their oldest
uncut answer, so a sweep stops at the first lead not due. In memory only: a process that dies leaves its
uncut answers whole in Redis, which is bigger, not wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog

from agent_runtime.leads import LeadKey

log = structlog.get_logger("agent_runtime")


class Cuts:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        # lead → (when its oldest uncut answer was published, the received event ids of its uncut answers)
        self._pending: dict[LeadKey, tuple[float, list[str]]] = {}

    def __len__(self) -> int:
        return sum(len(ids) for _, ids in self._pending.values())

    def published(self, lead: LeadKey, event_id: str) -> None:
        """The answer to ``event_id`` has all its events in the stream now."""
        pending = self._pending.get(lead)
        if pending is None:
            self._pending[lead] = (self._clock(), [event_id])
        else:
            pending[1].append(event_id)

    def take(self, lead: LeadKey) -> list[str]:
        """The lead's uncut answers, for its commit to cut; no longer pending here."""
        pending = self._pending.pop(lead, None)
        return pending[1] if pending is not None else []

    def give_back(self, lead: LeadKey, event_ids: list[str]) -> None:
        """Answers whose cut may not have happened (its command failed): pending again, due at once."""
        if not event_ids:
            return
        pending = self._pending.pop(lead, None)
        ids = event_ids + (pending[1] if pending is not None else [])
        # first in the sweep's order: due at the next sweep
        self._pending = {lead: (0.0, ids), **self._pending}

    def due(self, older_than: float) -> list[tuple[LeadKey, list[str]]]:
        """Take every lead's uncut answers whose oldest was published ``older_than`` seconds ago or more."""
        deadline = self._clock() - older_than
        due: list[tuple[LeadKey, list[str]]] = []
        for lead, (since, ids) in self._pending.items():
            if since > deadline:
                break  # dicts keep insertion order: the rest were published later
            due.append((lead, ids))
        for lead, _ in due:
            del self._pending[lead]
        return due


@contextlib.asynccontextmanager
async def sweeping(sweep: Callable[[float], Awaitable[int]], after: float) -> AsyncIterator[None]:
    """Run ``sweep(after)`` every ``after / 2`` seconds while inside; on leaving, ``sweep(0)``: everything the
    process published is cut before it stops (the consumer stopped first: nothing more is published)."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(max(after / 2, 0.05))
            await _swept(sweep, after)

    task = asyncio.create_task(loop(), name="agent-runtime:cuts")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await _swept(sweep, 0)


async def _swept(sweep: Callable[[float], Awaitable[int]], after: float) -> None:
    try:
        await sweep(after)
    except Exception as exc:  # the answers stay whole (and stay due): only bigger until the next sweep
        log.warning("answers_not_cut", error=repr(exc)[:200])
