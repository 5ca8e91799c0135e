"""SSE streams (finding 4 of issue #20): re-authorised while open, capped, bounded in time, and sharing one
Redis subscription per process. Streams are read frame by frame from the real ASGI app (httpx's
ASGITransport returns a response only once it is complete)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import eventbus
import pytest_asyncio
from asgi_lifespan import LifespanManager
from eventbus import LeadCreated
from eventbus.testing.waiting import eventually

COMPANY, OTHER = "cmp_A", "cmp_B"


def lead(n: int, company: str = COMPANY) -> LeadCreated:
    return LeadCreated(lead_id=f"lead_{n}", company_id=company, channel="whatsapp")


class Stream:
    """One GET on the app as a server would run it; ``frames`` fill in as the app sends them."""

    def __init__(self) -> None:
        self.status: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.frames: list[str] = []
        self.ended = asyncio.Event()
        self._buffer = ""
        self.body = ""
        self.headers: dict[str, str] = {}
        self._gone = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        await self._gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.headers = {k.decode(): v.decode() for k, v in message.get("headers", [])}
            self.status.set_result(message["status"])
        elif message["type"] == "http.response.body":
            chunk = message.get("body", b"").decode()
            self.body += chunk
            self._buffer += chunk
            *complete, self._buffer = self._buffer.split("\n\n")
            self.frames.extend(complete)
            if not message.get("more_body", False):
                self.ended.set()

    def events(self) -> list[str]:
        return [f.split("data: ", 1)[1] for f in self.frames if f.startswith("id:")]


@asynccontextmanager
async def open_stream(app, key: str, query: bytes = b"type=lead.created") -> AsyncIterator[Stream]:
    stream = Stream()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/v1/events/stream",
        "raw_path": b"/v1/events/stream",
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"test"), (b"x-api-key", key.encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
    }
    task = asyncio.create_task(app(scope, stream.receive, stream.send))
    try:
        await asyncio.wait_for(asyncio.shield(stream.status), 10)
        yield stream
    finally:
        stream._gone.set()
        try:
            await asyncio.wait_for(task, 5)
        except TimeoutError:
            task.cancel()


async def connected(stream: Stream) -> bool:
    return bool(stream.frames) and stream.frames[0] == ": connected"


@pytest_asyncio.fixture
async def live_app(make_app):
    """The app with a fast key re-check and small caps."""
    app = make_app(sse_recheck_seconds=0.2, sse_max_streams_per_key=2, sse_max_streams=4)
    async with LifespanManager(app):
        yield app


async def test_a_key_revoked_mid_stream_stops_receiving_within_the_recheck_interval(
    live_app, make_key, api_keys, publish
):
    key = await make_key()
    record = await api_keys.lookup(key)
    async with open_stream(live_app, key) as stream:
        await eventually(lambda: connected(stream))
        await publish(lead(1))
        await eventually(lambda: asyncio.sleep(0, stream.events()))
        await api_keys.revoke(record.key_id)
        # within the re-check interval (0.2 s) plus the test's margin, the stream ends by itself
        await asyncio.wait_for(stream.ended.wait(), 3)
        await publish(lead(2))
        assert len(stream.events()) == 1 and '"lead_1"' in stream.events()[0]
        assert stream.frames[-1] == ": closing: API key revoked"


async def test_streams_beyond_the_caps_answer_429_and_a_closed_stream_frees_its_place(live_app, make_key):
    first, second = await make_key(), await make_key()
    async with open_stream(live_app, first) as one, open_stream(live_app, first) as two:
        assert await one.status == await two.status == 200
        async with open_stream(live_app, first) as three:
            assert await three.status == 429
            await asyncio.wait_for(three.ended.wait(), 5)
            assert "already has 2 live streams" in json.loads(three.body)["error"]["message"]
            assert three.headers["retry-after"] == "30"
        async with open_stream(live_app, second) as a, open_stream(live_app, second) as b:
            assert await a.status == await b.status == 200
            async with open_stream(live_app, await make_key()) as over:
                assert await over.status == 429  # four open in this process: the process's cap
    await eventually(lambda: asyncio.sleep(0, live_app.state.ports.live.open_streams() == 0))
    async with open_stream(live_app, first) as again:
        assert await again.status == 200


async def test_a_stream_ends_at_its_maximum_lifetime(make_app, make_key):
    app = make_app(sse_max_lifetime_seconds=0.5, sse_keepalive_seconds=0.1)
    async with LifespanManager(app), open_stream(app, await make_key()) as stream:
        await asyncio.wait_for(stream.ended.wait(), 5)
        assert stream.frames[-1] == ": closing: maximum stream lifetime reached"


async def test_many_streams_share_one_redis_subscription(live_app, make_key, publish, redis_url, bus):
    keys = [await make_key(), await make_key(), await make_key(OTHER)]
    async with (
        open_stream(live_app, keys[0]) as a,
        open_stream(live_app, keys[1]) as b,
        open_stream(live_app, keys[2]) as c,
    ):
        for stream in (a, b, c):
            await eventually(lambda s=stream: connected(s))
        assert await eventbus.subscribers(bus, "lead.created") == 1
        await publish(lead(1))
        await publish(lead(2, OTHER), company=OTHER)
        for stream, expected in ((a, "lead_1"), (b, "lead_1"), (c, "lead_2")):
            events = await eventually(lambda s=stream: asyncio.sleep(0, s.events()))
            assert len(events) == 1 and f'"{expected}"' in events[0]
    await eventually(lambda: asyncio.sleep(0, live_app.state.ports.live.open_streams() == 0))
