"""The bus as this company sees it: recent events per channel from the retained streams, and a live SSE
stream (at most once by nature: a client that disconnects misses what happened meanwhile; it can catch up
with the recent-events list).

A live stream is authorised at its start and again every ``sse_recheck_seconds``: a key revoked or expired
meanwhile ends it. Streams are capped per key and per process and live at most ``sse_max_lifetime_seconds``
(``backoffice_api.live`` holds the one Redis subscription they share)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, cast

import structlog
from eventbus import Envelope, InvalidEvent, catalog
from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from redis.exceptions import RedisError
from starlette.types import Receive, Scope, Send

from backoffice_api.apikeys import ApiKey
from backoffice_api.bus_models import EventPublic, EventsPage
from backoffice_api.deps import EventsRead, Ports, PortsDep, stream_id
from backoffice_api.live import Listener
from backoffice_api.models import STREAM_ID, ErrorBody, EventType
from backoffice_api.routes import COMMON_ERRORS

log = structlog.get_logger("backoffice_api.events")
router = APIRouter(prefix="/v1/events", tags=["events"], responses=COMMON_ERRORS)
#: Entries read per request at most while looking for this company's events in a shared stream.
SCAN_BUDGET = 2000


def event_public(event: Envelope[Any]) -> EventPublic:
    return EventPublic.model_validate(event.model_dump(mode="json", by_alias=True, exclude={"traceparent"}))


@router.get("", summary="Recent events of one channel, newest first")
async def recent_events(
    key: EventsRead,
    ports: PortsDep,
    type: EventType,
    before: Annotated[
        str | None, Query(pattern=STREAM_ID, description="an entry id from next_before")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> EventsPage:
    redis, stream = ports.bus.redis, ports.bus.keys.stream(type)
    upper = f"({stream_id('before', before)}" if before else "+"
    items: list[EventPublic] = []
    scanned, last = 0, None
    while len(items) < limit and scanned < SCAN_BUDGET:
        rows = cast(
            "list[tuple[bytes, dict[bytes, bytes]]]",
            await redis.xrevrange(stream, upper, "-", count=min(200, SCAN_BUDGET - scanned)),
        )
        if not rows:
            last = None
            break
        for entry_id, fields in rows:
            scanned += 1
            last = entry_id.decode()
            try:
                event = catalog.parse(fields[b"e"])
            except (InvalidEvent, KeyError):
                continue
            if event.company_id == key.company_id:
                items.append(event_public(event))
                if len(items) == limit:
                    break
        upper = f"({last}"
    return EventsPage(items=items, next_before=last)


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events, one per bus event"},
        429: {
            "model": ErrorBody,
            "description": "Rate limit exceeded, or too many live streams open for this key or on this "
            "server; see Retry-After",
        },
    },
    summary="Live events of this company (Server-Sent Events)",
)
async def stream_events(
    key: EventsRead,
    ports: PortsDep,
    type: Annotated[list[EventType] | None, Query()] = None,
    limit: Annotated[int | None, Query(ge=1, le=100_000, description="close after this many events")] = None,
) -> StreamingResponse:
    channels = tuple(dict.fromkeys(type or catalog.CHANNELS))
    hub = ports.live
    listener = hub.reserve(company_id=key.company_id, key_id=key.key_id, channels=channels)
    try:
        await hub.attach()  # before the 200: a Redis outage is a 503, and nothing published after is missed
    except BaseException:
        hub.release(listener)
        raise
    frames = _frames(ports, key, listener, limit)
    return _Stream(frames, release=lambda: hub.release(listener))


async def _frames(ports: Ports, key: ApiKey, listener: Listener, limit: int | None) -> AsyncIterator[str]:
    """The stream's frames until ``limit`` events, the key stops being usable (checked every
    ``sse_recheck_seconds``), the maximum lifetime, or the shared tap ends."""
    settings = ports.settings
    clock = asyncio.get_running_loop().time
    started = clock()
    deadline = started + settings.sse_max_lifetime_seconds
    next_check = started + settings.sse_recheck_seconds
    last_write = started
    try:
        yield ": connected\n\n"
        sent = 0
        while limit is None or sent < limit:
            now = clock()
            if now >= deadline:
                yield ": closing: maximum stream lifetime reached\n\n"
                return
            if now >= next_check:
                refusal = await _refusal(ports, key)
                if refusal is not None:
                    log.info("sse_closed", reason=refusal, key_id=key.key_id)
                    yield f": closing: {refusal}\n\n"
                    return
                next_check = clock() + settings.sse_recheck_seconds
            wait = min(next_check, deadline, last_write + settings.sse_keepalive_seconds) - clock()
            try:
                item = await asyncio.wait_for(listener.queue.get(), max(wait, 0))
            except TimeoutError:
                if clock() >= last_write + settings.sse_keepalive_seconds:
                    last_write = clock()
                    yield ": keep-alive\n\n"
                continue
            if item is None:  # the shared tap ended (Redis went away): the client reconnects
                return
            data = event_public(item).model_dump_json()
            yield f"id: {item.id}\nevent: {item.type}\ndata: {data}\n\n"
            last_write = clock()
            sent += 1
    finally:
        ports.live.release(listener)


async def _refusal(ports: Ports, key: ApiKey) -> str | None:
    """Why the stream's key may no longer be used; a key store that cannot answer closes the stream too
    (fail closed: the client reconnects through ``Access``, which answers 503 until it is back)."""
    try:
        current = await ports.api_keys.by_id(key.key_id)
    except (RedisError, OSError):
        return "the key store is unavailable"
    if current is None:
        return "API key deleted"
    return current.usable(datetime.now(UTC))


class _Stream(StreamingResponse):
    """Releases the stream's place even when its body never started (the client left before the first
    frame, so the generator's ``finally`` never runs)."""

    def __init__(self, frames: AsyncIterator[str], *, release: Callable[[], None]) -> None:
        super().__init__(frames, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()
