"""The bus as this company sees it: recent events per channel from the retained streams, and a live SSE
stream (at most once by nature: a client that disconnects misses what happened meanwhile; it can catch up
with the recent-events list)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any, cast

from eventbus import Envelope, InvalidEvent, catalog, tap
from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from redis.exceptions import RedisError

from backoffice_api.deps import EventsRead, PortsDep, stream_id
from backoffice_api.models import STREAM_ID, EventPublic, EventsPage, EventType
from backoffice_api.routes import COMMON_ERRORS

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
        200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events, one per bus event"}
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
    keepalive = ports.settings.sse_keepalive_seconds
    company = key.company_id
    bus = ports.bus

    async def frames() -> AsyncIterator[str]:
        queue: asyncio.Queue[Envelope[Any]] = asyncio.Queue(maxsize=1000)
        async with tap(bus, *channels) as events:

            async def pump() -> None:
                async for event in events:
                    if event.company_id == company:
                        if queue.full():  # a slow client loses the oldest, never stalls the tap
                            queue.get_nowait()
                        queue.put_nowait(event)

            reader = asyncio.create_task(pump())
            try:
                yield ": connected\n\n"
                sent = 0
                while limit is None or sent < limit:
                    try:
                        event = await asyncio.wait_for(queue.get(), keepalive)
                    except TimeoutError:
                        if reader.done():
                            break
                        yield ": keep-alive\n\n"
                        continue
                    data = event_public(event).model_dump_json()
                    yield f"id: {event.id}\nevent: {event.type}\ndata: {data}\n\n"
                    sent += 1
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, RedisError, OSError):
                    await reader

    return StreamingResponse(frames(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
