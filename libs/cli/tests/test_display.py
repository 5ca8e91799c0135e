"""The live display of `wolfgang up` outlives Redis: an outage longer than the client's own reconnection
attempts pauses it, said once, and it carries on when the server is back (before, the session ended with
`error: cannot reach Redis` and took every service down with it)."""

from __future__ import annotations

import asyncio
import io

import pytest
from eventbus import Bus, BusSettings, catalog
from eventbus.ids import new_id
from eventbus.server import RedisServer
from rich.console import Console
from wolfgang import session

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]


def announcement(instance: str) -> bytes:
    company = new_id("cmp")
    payload = {"instance_id": instance, "company_id": company, "channel": "whatsapp", "status": "connected"}
    return catalog.build("instance.status", payload, source="test", company_id=company).to_wire()


async def test_the_live_display_waits_out_a_redis_outage_and_shows_events_after_it(tmp_path, monkeypatch):
    screen = io.StringIO()
    monkeypatch.setattr(session, "out", Console(file=screen, soft_wrap=True))
    shown: list[str] = []
    monkeypatch.setattr(session, "_show", lambda event: shown.append(event.payload.instance_id))
    server = RedisServer(tmp_path / "redis", appendonly=True).start()
    try:
        async with Bus.from_url(server.url, source="test", settings=BusSettings(prefix="wb")) as bus:
            subscribed = asyncio.Event()
            display = asyncio.create_task(session._display(bus, subscribed))
            await asyncio.wait_for(subscribed.wait(), 10)
            channel = bus.keys.live("instance.status")

            server.kill()
            await asyncio.sleep(5.0)  # longer than redis-py's own reconnection attempts
            assert not display.done()
            server.start()

            async def announced_after_the_outage() -> None:
                while "after" not in shown:
                    await bus.redis.publish(channel, announcement("after"))
                    await asyncio.sleep(0.2)

            await asyncio.wait_for(announced_after_the_outage(), 20)
            assert not display.done()
            display.cancel()
            with pytest.raises(asyncio.CancelledError):
                await display
    finally:
        server.stop()
    text = screen.getvalue()
    assert text.count("it resumes when Redis is back") == 1, text  # said once, not once per attempt
    assert "live display: reconnected" in text
