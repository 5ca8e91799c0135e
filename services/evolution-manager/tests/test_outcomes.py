"""Ambiguous sendText outcomes, over real HTTP to the fake Evolution: each text reaches the fake exactly once,
or once plus an ``outcome_unknown`` dead letter — never twice, never silently dropped.

When the fake stores messages (``DATABASE_SAVE_DATA_NEW_MESSAGE``), ``findMessages`` proves the send and the
element is marked sent; when it does not, nothing proves it either way and an operator decides.
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
from eventbus import Bus, BusSettings, DeadLetters, Envelope, MessageSent, OutgoingMessage, group_stats
from eventbus.server import free_port
from eventbus.testing.waiting import eventually
from fakes import evolution as fake_evolution
from fakes.serving import served
from prometheus_client import REGISTRY
from redis.asyncio.cluster import RedisCluster
from servicekit.outcomes import is_outcome_unknown

GROUP = "evolution-manager"
TEXT = "Olá Maria! O plano anual sai por R$ 1.497,90."

FAULTS: dict[str, Callable[[fake_evolution.EvolutionState], None]] = {
    "read_timeout_after_send": lambda fake: fake.slow_next(1.5, after_handling=True),
    "reset_after_write": lambda fake: fake.drop_next(),
    "html_2xx": lambda fake: fake.garble_next(),
    "500_after_processing": lambda fake: fake.fail_after_next(500),
}


async def _async(value: Any) -> Any:
    return value


def unknown_count() -> float:
    labels = {"service": GROUP, "effect": "send_text", "outcome": "unknown"}
    return REGISTRY.get_sample_value("side_effect_outcomes_total", labels) or 0.0


async def settled(bus: Bus) -> bool:
    return any(g.group == GROUP and g.pending == 0 for g in await group_stats(bus, "message.sent"))


async def unknown_letters(bus: Bus) -> list[Any]:
    letters = await DeadLetters(bus, "message.sent", GROUP).list()
    return [d for d in letters if is_outcome_unknown(d.reason, d.error)]


@asynccontextmanager
async def over_http(
    fake: fake_evolution.EvolutionState, run_service: Callable[..., Any], **overrides: Any
) -> AsyncIterator[Any]:
    async with (
        served(fake_evolution.create_app(fake)) as url,
        run_service(
            transport=httpx.AsyncHTTPTransport(), **({"api_url": url, "read_timeout": 0.5} | overrides)
        ) as service,
    ):
        yield service


@pytest.mark.parametrize("stores", [True, False], ids=["evolution_stores", "evolution_does_not_store"])
@pytest.mark.parametrize("fault", list(FAULTS))
async def test_an_ambiguous_send_is_sent_once_then_reconciled_or_dead_lettered(
    fake, run_service, fault: str, stores: bool
) -> None:
    fake.stores_messages = stores
    before = unknown_count()
    async with over_http(fake, run_service) as service:
        FAULTS[fault](fake)
        await service.reply(TEXT, "Posso ajudar em algo mais?")
        if stores:
            # findMessages found the text: marked sent, and the reply went on with the next element.
            await eventually(lambda: _async(len(service.fake.sent) == 2))
            await eventually(lambda: settled(service.bus))
            assert await unknown_letters(service.bus) == []
        else:
            [letter] = await eventually(lambda: unknown_letters(service.bus))
            assert "5511987654321" not in letter.error and TEXT not in letter.error
            assert unknown_count() == before + 1
            listed = (await service.http.get("/ops/outcomes", headers=service.ADMIN)).json()
            assert [(u["effect"], u["event_id"]) for u in listed] == [("send_text", letter.event_id)]
        await asyncio.sleep(0.5)  # longer than the bus's backoff between handlings: no copy comes late
        assert service.sent_texts().count(TEXT) == 1
        assert service.sent_texts() == ([TEXT, "Posso ajudar em algo mais?"] if stores else [TEXT])


@pytest.mark.parametrize(
    ("decision", "expected"),
    [("delivered", ["primeira", "segunda"]), ("resend", ["primeira", "primeira", "segunda"])],
)
async def test_an_operator_resolves_an_unknown_outcome_and_the_rest_of_the_reply_follows(
    fake, run_service, decision: str, expected: list[str]
) -> None:
    fake.stores_messages = False
    async with over_http(fake, run_service) as service:
        fake.drop_next()
        await service.reply("primeira", "segunda")
        [letter] = await eventually(lambda: unknown_letters(service.bus))
        [listed] = (await service.http.get("/ops/outcomes", headers=service.ADMIN)).json()
        assert (await service.http.get("/ops/outcomes")).status_code == 401
        body = {"decision": decision, "operator": "ana@example.com"}
        path = f"/ops/outcomes/{listed['effect']}/{listed['id']}/resolve"
        answer = await service.http.post(path, json=body, headers=service.ADMIN)
        assert answer.status_code == 200, answer.text
        named = answer.json()["dead_letter"]
        # The operator's tool replays the dead letter the owner names (wolfgang, backoffice-api).
        await DeadLetters(service.bus, named["channel"], named["group"]).replay(named["id"])
        await eventually(lambda: _async(service.sent_texts() == expected))
        await eventually(lambda: settled(service.bus))
        assert await DeadLetters(service.bus, "message.sent", GROUP).list() == []
        assert (await service.http.get("/ops/outcomes", headers=service.ADMIN)).json() == []
        again = await service.http.post(path, json=body, headers=service.ADMIN)
        assert again.status_code == 404
        assert letter.event_id == listed["event_id"]


async def test_a_400_from_the_send_path_is_not_proof_that_nothing_went_out(fake, run_service) -> None:
    # Evolution answers 400 ["Error: …"] for any exception after Baileys relayed the message (reference §10).
    fake.stores_messages = False
    async with over_http(fake, run_service) as service:
        fake.instances[service.INSTANCE].connection_state = "close"
        await service.reply("talvez")
        [letter] = await eventually(lambda: unknown_letters(service.bus))
        assert "HTTP 400 (send_error)" in letter.error


async def test_a_refused_connection_is_retried_not_unknown(fake, run_service) -> None:
    async with over_http(fake, run_service, api_url=f"http://127.0.0.1:{free_port()}") as service:
        await service.reply("ninguém ouve")
        await asyncio.sleep(1.0)
        assert await unknown_letters(service.bus) == []
        record = await reply_keys(service.bus)
        assert record == []  # released: a later handling may send it


async def reply_keys(bus: Bus) -> list[Any]:
    """The reply records, on one server or a cluster (KEYS on a cluster asks one node unless told to ask all)."""
    pattern = bus.keys.service(GROUP, "reply", "*")
    if isinstance(bus.redis, RedisCluster):
        return list(await bus.redis.keys(pattern, target_nodes=RedisCluster.PRIMARIES))
    return list(await bus.redis.keys(pattern))


class CrashingService:
    """evolution-manager in a real process of its own, to be killed with SIGKILL mid-call."""

    def __init__(self, redis_url: str, settings: BusSettings, api_url: str, secrets_keys: str) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "REDIS_URL": redis_url,
            "BUS_PREFIX": settings.prefix,
            "BUS_LIVE_PREFIX": settings.live_prefix,
            "CONSUMER_NAME": "crashy",
            "EVOLUTION_API_URL": api_url,
            "EVOLUTION_PORT": str(self.port),
            "EVOLUTION_REFRESH_ON_START": "false",
            "EVOLUTION_READ_TIMEOUT": "30",
            "EVOLUTION_CONSUMER_BLOCK_SECONDS": "0.1",
            "EVOLUTION_ADMIN_TOKEN": "dev-service-token",  # backoffice-api's credential in these tests
            # The key the in-process service of the same test seals and opens the instance's secrets with.
            "SECRETS_KEYS": secrets_keys,
        }
        command = [sys.executable, "-m", "evolution_manager"]
        self.proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)


@pytest.mark.parametrize("stores", [True, False], ids=["evolution_stores", "evolution_does_not_store"])
async def test_a_consumer_killed_between_the_call_and_the_mark_never_sends_twice(
    fake, run_service, make_settings, redis_url: str, bus_settings: BusSettings, stores: bool
) -> None:
    fake.stores_messages = stores
    async with served(fake_evolution.create_app(fake)) as url:
        keys = make_settings().secrets_keys.get_secret_value()
        crashing = CrashingService(redis_url, bus_settings, url, keys)
        try:
            async with httpx.AsyncClient(base_url=crashing.url) as http:

                async def registered() -> dict[str, Any] | None:
                    try:
                        body = {"company_id": "cmp_1", "api_key": "fake-instance-apikey-vendas-01"}
                        headers = {"Authorization": "Bearer dev-service-token"}
                        answer = await http.put("/v1/instances/vendas-01", json=body, headers=headers)
                    except httpx.TransportError:
                        return None
                    return dict(answer.json()) if answer.status_code in (200, 201) else None

                instance = await eventually(registered, timeout=30)
            fake.slow_next(3.0, after_handling=True)  # the fake records the send, then holds the answer
            async with Bus.from_url(redis_url, source="agent-runtime", settings=bus_settings) as bus:
                payload = MessageSent(
                    instance_id=instance["instance_id"],
                    to="+5511987654321",
                    messages=[OutgoingMessage(text=TEXT)],
                )
                await bus.publish(Envelope.new(payload, source="agent-runtime", company_id="cmp_1"))
                await eventually(lambda: _async(len(fake.sent) == 1), timeout=30)
                crashing.kill()  # between Evolution's send and the record's "sent"
        finally:
            if crashing.proc.poll() is None:
                crashing.kill()
        # The same consumer name comes back: it drains its own pending entry first.
        async with run_service(
            register=False,
            transport=httpx.AsyncHTTPTransport(),
            api_url=url,
            consumer_name="crashy",
        ) as service:
            if stores:
                await eventually(lambda: settled(service.bus))
                assert await unknown_letters(service.bus) == []
                # Found by findMessages and recorded with Evolution's id: not left "in flight" forever.
                [key] = await reply_keys(service.bus)
                assert (
                    await service.bus.redis.get(key) == f"sent:{fake.sent[0].response['key']['id']}".encode()
                )
            else:
                [letter] = await eventually(lambda: unknown_letters(service.bus))
                assert "crashed_mid_call" in letter.error
            await asyncio.sleep(0.5)
            assert [s.request["text"] for s in fake.sent] == [TEXT]
