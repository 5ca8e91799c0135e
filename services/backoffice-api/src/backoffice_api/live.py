"""Live events for the SSE streams: one Pub/Sub subscription per process, fanned out to every open stream.

A tap per stream cost a Redis connection each (15 streams on one key raised the server's clients from 23 to
45), so the process holds one tap over every catalog channel and each stream gets a bounded queue of its
company's events on the channels it asked for. The tap starts with the first stream and lives until the app
stops; if it dies (Redis went away) every open stream is ended (clients reconnect, as SSE clients do) and
the next stream starts a fresh one.

Streams are capped per API key and per process (``RateLimited`` → 429): the caps count this process's
streams only, so a deployment of N replicas allows N times as many.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

import structlog
from eventbus import Bus, Envelope, tap
from redis.exceptions import RedisError
from servicekit import RateLimited

log = structlog.get_logger("backoffice_api.live")

#: Events a stream may have waiting; beyond, a slow client loses the oldest (never stalls the others).
QUEUE_SIZE = 1000


@dataclass(eq=False)
class Listener:
    company_id: str
    channels: frozenset[str]
    key_id: str
    #: Events for this stream; ``None`` means the shared tap ended and the stream must close.
    queue: asyncio.Queue[Envelope[Any] | None] = field(
        default_factory=lambda: asyncio.Queue(maxsize=QUEUE_SIZE)
    )

    def offer(self, item: Envelope[Any] | None) -> None:
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(item)


class LiveHub:
    def __init__(self, bus: Bus, *, per_key: int, total: int) -> None:
        self._bus = bus
        self._per_key = per_key
        self._total = total
        self._listeners: set[Listener] = set()
        self._task: asyncio.Task[None] | None = None
        self._subscribed: asyncio.Event = asyncio.Event()

    def open_streams(self, key_id: str | None = None) -> int:
        return sum(1 for s in self._listeners if key_id is None or s.key_id == key_id)

    def reserve(self, *, company_id: str, key_id: str, channels: tuple[str, ...]) -> Listener:
        """Count a new stream against the caps (``RateLimited`` beyond them); ``release`` it when it ends.
        Synchronous, so concurrent requests cannot both take the last place."""
        if self.open_streams() >= self._total:
            raise RateLimited("too many live streams on this server; retry later", retry_after=30)
        if self.open_streams(key_id) >= self._per_key:
            raise RateLimited(
                f"this API key already has {self._per_key} live streams open; close one first",
                retry_after=30,
            )
        listener = Listener(company_id, frozenset(channels), key_id)
        self._listeners.add(listener)
        return listener

    def release(self, listener: Listener) -> None:
        self._listeners.discard(listener)

    async def attach(self) -> None:
        """Return once the shared subscription is in place, starting it if needed: nothing published after
        this returns is missed. Raises ``RedisError`` when it cannot subscribe."""
        if self._task is None or self._task.done():
            self._subscribed = asyncio.Event()
            self._task = asyncio.create_task(self._pump(self._subscribed))
        subscribed, task = self._subscribed, self._task
        waiter = asyncio.create_task(subscribed.wait())
        await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if not subscribed.is_set():  # the tap failed before subscribing
            task.result()  # re-raises its RedisError (→ 503)
            raise RedisError("the live tap ended before subscribing")

    async def _pump(self, subscribed: asyncio.Event) -> None:
        try:
            async with tap(self._bus) as events:
                subscribed.set()
                async for event in events:
                    for listener in tuple(self._listeners):
                        if event.company_id == listener.company_id and event.type in listener.channels:
                            listener.offer(event)
        except (RedisError, OSError) as exc:
            log.warning("live_tap_failed", error=type(exc).__name__)
            if not subscribed.is_set():
                raise
        finally:
            if subscribed.is_set():
                for listener in tuple(self._listeners):
                    listener.offer(None)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, RedisError, OSError):
                await self._task
