"""Redis killed for ten seconds under a burst of webhooks, then restarted from its append-only file: every
webhook evolution-manager answered 200 is answered to its lead exactly once afterwards, and nothing is
dead-lettered. Before the consumer treated an outage as one, agent-runtime counted each connection and
loading error as a failed attempt and dead-lettered accepted messages (reason max_attempts)."""

import asyncio
import random
from collections import Counter

import pytest
from eventbus import CHANNELS, DeadLetters, group_stats
from eventbus.testing.waiting import eventually
from wolfgang.system import INSTANCE

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

TEXT = "Oi! Quero fazer uma festa de aniversário com vocês"


async def test_a_redis_outage_under_a_burst_of_webhooks_answers_each_accepted_message_once(running) -> None:
    seed = await running.demo.seed()
    assert not seed.problems, seed.problems
    fake = running.system.url("fake-evolution")
    base = random.randint(10_000_000, 89_999_999)

    async def lead_writes(i: int) -> tuple[str, bool]:
        number = f"55119{base + i}"
        body = {"instance": INSTANCE, "template": "text", "params": {"from_number": number, "text": TEXT}}
        answer = (await running.http.post(f"{fake}/_fake/webhooks/send", json=body, timeout=60)).json()
        return number, bool(answer["delivery"]["delivered"])

    async def burst() -> list[tuple[str, bool]]:
        # ~16 s of webhooks, one every 0.25 s, each from a new lead; the fake retries each for ~5 s.
        sends = []
        for i in range(64):
            sends.append(asyncio.create_task(lead_writes(i)))
            await asyncio.sleep(0.25)
        return list(await asyncio.gather(*sends))

    sending = asyncio.create_task(burst())
    await asyncio.sleep(3.0)  # some webhooks accepted and being answered when Redis dies
    running.server.kill()
    await asyncio.sleep(10.0)
    running.server.start()  # same port and directory: the AOF gives back streams, groups and state
    outcomes = await sending

    accepted = {number for number, delivered in outcomes if delivered}
    assert len(accepted) >= 20, "the burst should straddle the outage"

    async def replies() -> Counter:
        sent = (await running.http.get(f"{fake}/_fake/sent")).json()
        return Counter((s["request"]["number"].lstrip("+"), s["request"]["text"]) for s in sent)

    async def every_accepted_lead_answered() -> bool:
        answered = {number for number, _ in await replies()}
        return accepted <= answered

    await eventually(every_accepted_lead_answered, timeout=90)
    await asyncio.sleep(3.0)  # anything sent twice would be sent by now
    counts = await replies()
    ours = {key: n for key, n in counts.items() if key[0] in {number for number, _ in outcomes}}
    assert set(ours.values()) == {1}, {key: n for key, n in ours.items() if n > 1}
    dead = {  # with the reason and error of each, so that a failure says what was given up and why
        (channel, stats.group): [
            f"{letter.reason}: {letter.error[:200]}"
            for letter in await DeadLetters(running.bus, channel, stats.group).list()
        ]
        for channel in CHANNELS
        for stats in await group_stats(running.bus, channel)
        if stats.dead_letters
    }
    assert dead == {}
