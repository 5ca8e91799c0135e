"""Ambiguous Graph answers, over real HTTP to the fake Meta: each conversion reaches the fake exactly once, or
once plus an ``outcome_unknown`` dead letter — never twice. Meta offers no way to look an event up, and does
not document deduplicating business-messaging events (reference §8), so every ambiguity is for an operator.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from eventbus import Bus, BusSettings, DeadLetters, group_stats
from eventbus.server import free_port
from eventbus.testing.waiting import eventually
from fakes import graph
from fakes.graph import GraphState
from fakes.serving import served
from prometheus_client import REGISTRY
from servicekit.outcomes import is_outcome_unknown

GROUP = "facebook-capi"
PIXEL = "1234567890"
TOKEN = "EAAGtest-SECRET-capi-token-0123456789"  # the conftest's (test modules cannot import it)
WABA = "102030405060708"
COMPANY = "cmp_01J8Z0P1F7K4V6E9QW3M0N1B2C"
ADMIN = {"Authorization": "Bearer dev-service-token"}

FAULTS: dict[str, Callable[[GraphState], None]] = {
    "read_timeout_after_send": lambda fake: fake.slow_next(1.5, after_handling=True),
    "reset_after_write": lambda fake: fake.drop_next(),
    "html_2xx": lambda fake: fake.garble_next(),
    "500_after_processing": lambda fake: fake.fail_after_next(500),
    "partial_events_received": lambda fake: fake.under_report_next(1),
}


async def _async(value: Any) -> Any:
    return value


def unknown_count() -> float:
    labels = {"service": GROUP, "effect": "conversion", "outcome": "unknown"}
    return REGISTRY.get_sample_value("side_effect_outcomes_total", labels) or 0.0


async def unknown_letters(bus: Bus, channel: str = "lead.created") -> list[Any]:
    letters = await DeadLetters(bus, channel, GROUP).list()
    return [d for d in letters if is_outcome_unknown(d.reason, d.error)]


async def settled(bus: Bus, channel: str = "lead.created") -> bool:
    return any(g.group == GROUP and g.pending == 0 for g in await group_stats(bus, channel))


@pytest.fixture
def over_http(make_service: Callable[..., Any], fake_graph: GraphState) -> Callable[..., Any]:
    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[Any]:
        async with served(graph.create_app(fake_graph)) as url:
            settings = {"graph_url": url, "request_timeout": 0.5, **overrides}
            async with make_service(transport=httpx.AsyncHTTPTransport(), **settings) as service:
                await service.configure()
                yield service

    return start


@pytest.fixture
def lead(events: Any) -> Callable[[int], Any]:
    def build(n: int) -> Any:
        return events.lead_created(
            f"lead_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K{n}", phone=f"+551198765432{n}", ctwa_clid=f"ARAkclid{n}"
        )

    return build


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_an_ambiguous_answer_is_received_once_and_dead_lettered_outcome_unknown(
    over_http, fake_graph: GraphState, fault: str, lead
) -> None:
    before = unknown_count()
    async with over_http() as service:
        FAULTS[fault](fake_graph)
        event = lead(1)
        await service.bus.publish(event)
        [letter] = await eventually(lambda: unknown_letters(service.bus))
        assert letter.event_id == event.id
        assert TOKEN not in letter.error and "5511987654321" not in letter.error
        assert unknown_count() == before + 1
        listed = (await service.http.get("/ops/outcomes", headers=ADMIN)).json()
        assert [(u["effect"], u["event_id"]) for u in listed] == [("conversion", event.id)]
        await eventually(lambda: settled(service.bus))
        await asyncio.sleep(0.5)  # no late copy from the bus's retries
        assert [e["event_id"] for e in service.received()] == [event.id]


async def test_a_batch_meta_partly_accounts_for_is_not_marked_sent_nor_resent(
    over_http, fake_graph: GraphState, lead
) -> None:
    async with over_http(batch_max_delay=0.3) as service:
        fake_graph.under_report_next(1)
        events = [lead(n) for n in range(3)]
        for event in events:
            await service.bus.publish(event)
        letters = await eventually(lambda: _async_len(unknown_letters(service.bus), 3))
        assert {d.event_id for d in letters} == {e.id for e in events}
        assert all("partial_batch" in d.error for d in letters)
        await asyncio.sleep(0.5)
        assert sorted(e["event_id"] for e in service.received()) == sorted(e.id for e in events)
        assert fake_graph.under_report == []


async def _async_len(letters: Any, n: int) -> Any:
    got = await letters
    return got if len(got) == n else None


@pytest.mark.parametrize(("decision", "copies"), [("delivered", 1), ("resend", 2)])
async def test_an_operator_resolves_a_conversion(
    over_http, fake_graph: GraphState, lead, decision: str, copies: int
) -> None:
    async with over_http() as service:
        fake_graph.fail_after_next(500)
        event = lead(1)
        await service.bus.publish(event)
        await eventually(lambda: unknown_letters(service.bus))
        [listed] = (await service.http.get("/ops/outcomes", headers=ADMIN)).json()
        path = f"/ops/outcomes/conversion/{listed['id']}/resolve"
        answer = await service.http.post(path, json={"decision": decision, "operator": "ana"}, headers=ADMIN)
        assert answer.status_code == 200, answer.text
        named = answer.json()["dead_letter"]
        # The operator's tool replays the dead letter the owner names (wolfgang, backoffice-api).
        await DeadLetters(service.bus, named["channel"], named["group"]).replay(named["id"])
        await eventually(lambda: _async(len(service.received()) == copies))
        await eventually(lambda: settled(service.bus))
        assert await DeadLetters(service.bus, "lead.created", GROUP).list() == []
        await asyncio.sleep(0.3)
        assert len(service.received()) == copies


async def test_throttling_and_a_503_are_retried_and_sent_once(
    over_http, fake_graph: GraphState, lead
) -> None:
    async with over_http() as service:
        fake_graph.fail_with_code(4)  # HTTP 400, code 4: nothing stored
        fake_graph.fail_with_code(2)  # HTTP 503: not processed
        event = lead(1)
        await service.bus.publish(event)
        await eventually(lambda: _async(len(service.received()) == 1))
        await eventually(lambda: settled(service.bus))
        assert await unknown_letters(service.bus) == []


async def test_a_consumer_killed_between_the_call_and_the_mark_never_sends_twice(
    make_service, fake_graph: GraphState, redis_url: str, bus_settings: BusSettings, lead, secrets_keys: str
) -> None:
    async with served(graph.create_app(fake_graph)) as url:
        port = free_port()
        env = {
            **os.environ,
            "REDIS_URL": redis_url,
            "BUS_PREFIX": bus_settings.prefix,
            "BUS_LIVE_PREFIX": bus_settings.live_prefix,
            "CONSUMER_NAME": "crashy",
            "FACEBOOK_GRAPH_URL": url,
            "CAPI_PORT": str(port),
            "CAPI_REQUEST_TIMEOUT": "30",
            "CAPI_CONSUMER_BLOCK_SECONDS": "0.1",
            "CAPI_ADMIN_TOKEN": "dev-service-token",  # the operators' credential in these tests (ADMIN)
            "SECRETS_KEYS": secrets_keys,  # as the in-process service that takes over: it opens what this sealed
        }
        proc = _spawn(env)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:

                async def configured() -> bool:
                    body = {"pixel_id": PIXEL, "access_token": TOKEN, "waba_id": WABA, "enabled": True}
                    try:
                        answer = await http.put(f"/v1/companies/{COMPANY}/capi", json=body, headers=ADMIN)
                    except httpx.TransportError:
                        return False
                    return answer.status_code == 200

                await eventually(configured, timeout=30)
            fake_graph.slow_next(3.0, after_handling=True)  # Meta stores the event, then holds the answer
            event = lead(1)
            async with Bus.from_url(redis_url, source="agent-runtime", settings=bus_settings) as bus:
                await bus.publish(event)
            await eventually(lambda: _async(len(fake_graph.events_for(PIXEL)) == 1), timeout=30)
            proc.send_signal(signal.SIGKILL)  # between Meta's answer and the record's "sent"
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        async with make_service(
            transport=httpx.AsyncHTTPTransport(), graph_url=url, consumer_name="crashy"
        ) as service:
            [letter] = await eventually(lambda: unknown_letters(service.bus))
            assert letter.event_id == event.id and "crashed_mid_call" in letter.error
            await asyncio.sleep(0.5)
            assert [e["event_id"] for e in service.received()] == [event.id]


def _spawn(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """facebook-capi in a real process of its own, to be killed with SIGKILL mid-call."""
    command = [sys.executable, "-m", "facebook_capi"]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
