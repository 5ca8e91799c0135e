"""A Redis outage in the middle of a conversion, on a real server killed and restarted from its append-only
file: the retry in the same process reads the claim it finds in the light of what the process knows. An event
Meta was never sent is sent (not reported unknown); an event Meta accepted is recorded sent (not sent again).
Another process, knowing nothing, still reads the claim as in flight: its outcome is for an operator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from eventbus import Keys, connect
from eventbus.server import RedisServer
from facebook_capi.ledger import SentLedger
from redis.exceptions import RedisError
from servicekit.outcomes import State

PIXEL = "1234567890"


@pytest.fixture
def server(redis_server_factory: Callable[..., RedisServer]) -> RedisServer:
    return redis_server_factory(appendonly=True, fsync_always=True)


@pytest.fixture
async def ledger_on() -> AsyncIterator[Callable[[RedisServer], SentLedger]]:
    """A ledger per process: each with a client of its own, closed at the end."""
    clients = []

    def make(server: RedisServer) -> SentLedger:
        clients.append(connect(server.url))
        return SentLedger(clients[-1], Keys("t"))

    yield make
    for client in clients:
        await client.aclose()


async def test_a_claim_whose_release_redis_missed_is_this_process_to_send(
    server: RedisServer, ledger_on
) -> None:
    ledger = ledger_on(server)
    assert (await ledger.begin(PIXEL, "evt_1")).state is State.CLAIMED
    server.kill()  # Meta refused the event (proved not stored); releasing the claim fails
    with pytest.raises((RedisError, OSError)):
        await ledger.failed(PIXEL, "evt_1")
    server.start()
    assert (await ledger_on(server).begin(PIXEL, "evt_1")).state is State.IN_FLIGHT  # another process
    assert (await ledger.begin(PIXEL, "evt_1")).state is State.CLAIMED  # this one knows it never sent


async def test_an_event_meta_accepted_while_redis_was_away_is_recorded_sent_not_sent_again(
    server: RedisServer, ledger_on
) -> None:
    ledger = ledger_on(server)
    assert (await ledger.begin(PIXEL, "evt_2")).state is State.CLAIMED
    server.kill()  # Meta accepted the event; its record cannot be written
    with pytest.raises((RedisError, OSError)):
        await ledger.mark_sent(PIXEL, ["evt_2"], fbtrace_id="AbCdEf")
    server.start()
    retried = await ledger.begin(PIXEL, "evt_2")
    assert retried.state is State.SENT and retried.ref == "AbCdEf"
    assert await ledger_on(server).was_sent(PIXEL, "evt_2")  # written for every process to read


async def test_a_claim_an_outage_cut_short_is_taken_again_once_and_then_guards_as_any_claim(
    server: RedisServer, ledger_on
) -> None:
    ledger = ledger_on(server)
    server.kill()  # the claim's round trip fails: whether it was written, this process never called Meta
    with pytest.raises((RedisError, OSError)):
        await ledger.begin(PIXEL, "evt_3")
    server.start()
    assert (await ledger.begin(PIXEL, "evt_3")).state is State.CLAIMED
    assert (await ledger.begin(PIXEL, "evt_3")).state is State.IN_FLIGHT  # remembered once, not forever
