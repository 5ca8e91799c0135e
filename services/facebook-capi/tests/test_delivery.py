"""Delivering a batch to the fake Graph API: retries, splitting around a bad event, the breaker per pixel."""

import time

import httpx
import pytest
from facebook_capi.clients.graph import GraphClient
from facebook_capi.delivery import Destination, DryRunLog, Retrying, Sender
from facebook_capi.errors import EventRejected, GraphRejected, GraphUnavailable
from facebook_capi.ledger import SentLedger
from fakes import graph
from pydantic import SecretStr
from servicekit.outcomes import OutcomeUnknown
from servicekit.upstream import Breakers, CircuitOpen

PIXEL, TOKEN = "1234567890", "EAAGtest-SECRET-capi-token-0123456789"
TO = Destination(PIXEL, SecretStr(TOKEN))


def wa_event(n: int, clid: str = "ARAkGOOD") -> dict:
    return {
        "event_name": "LeadSubmitted",
        "event_time": int(time.time()) - 5,
        "event_id": f"evt_{n}",
        "action_source": "business_messaging",
        "messaging_channel": "whatsapp",
        "user_data": {"whatsapp_business_account_id": "999", "ctwa_clid": clid},
    }


@pytest.fixture
async def sender(bus, fake_graph):
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=graph.create_app(fake_graph)), base_url="http://graph.test"
    ) as http:
        yield Sender(
            GraphClient(http, api_version="v25.0"),
            SentLedger(bus.redis, bus.keys),
            breakers=Breakers(failure_threshold=2, recovery_timeout=60),
            retrying=Retrying(attempts=3, initial=0.01, maximum=0.02),
            api_version="v25.0",
        )


def requests(fake_graph) -> int:
    return len(fake_graph.requests_to(f"/v25.0/{PIXEL}/events"))


async def test_batch_with_one_bad_event_delivers_the_others_once_and_blames_the_bad_one(
    sender, fake_graph, bus
) -> None:
    fake_graph.invalid_ctwa_clids.add("ARAkEXPIRED")
    events = [wa_event(n) for n in range(7)]
    events[4] = wa_event(4, clid="ARAkEXPIRED")
    results = await sender.deliver(TO, events)
    assert [r is None for r in results] == [True, True, True, True, False, True, True]
    assert isinstance(results[4], EventRejected) and results[4].subcode == 2804087
    delivered = [e["event_id"] for e in fake_graph.events_for(PIXEL)]
    assert sorted(delivered) == ["evt_0", "evt_1", "evt_2", "evt_3", "evt_5", "evt_6"]
    ledger = SentLedger(bus.redis, bus.keys)
    assert await ledger.was_sent(PIXEL, "evt_0") and not await ledger.was_sent(PIXEL, "evt_4")


async def test_rate_limit_then_success_is_sent_once(sender, fake_graph) -> None:
    fake_graph.fail_with_code(4)
    assert await sender.deliver(TO, [wa_event(1)]) == [None]
    assert len(fake_graph.events_for(PIXEL)) == 1
    assert requests(fake_graph) == 2


async def test_invalid_token_fails_every_event_with_code_190_and_is_not_split(sender, fake_graph) -> None:
    bad = Destination(PIXEL, SecretStr("not-the-token"))
    results = await sender.deliver(bad, [wa_event(1), wa_event(2)])
    assert all(isinstance(r, GraphRejected) and r.code == 190 for r in results)
    assert requests(fake_graph) == 1


async def test_circuit_opens_per_pixel_after_repeated_outages(sender, fake_graph) -> None:
    fake_graph.add_pixel("555", TOKEN)
    fake_graph.fail_with_code(2, count=6)
    first = await sender.deliver(TO, [wa_event(1)])
    assert isinstance(first[0], GraphUnavailable | CircuitOpen)
    again = await sender.deliver(TO, [wa_event(1)])
    assert isinstance(again[0], CircuitOpen)
    fake_graph.recover()
    other = await sender.deliver(Destination("555", SecretStr(TOKEN)), [wa_event(2)])
    assert other == [None]


async def test_dry_run_records_the_request_without_the_token_and_sends_nothing(bus, fake_graph) -> None:
    log = DryRunLog(bus.redis, bus.keys)
    dry = Sender(
        GraphClient(httpx.AsyncClient(base_url="http://unused.test"), api_version="v25.0"),
        SentLedger(bus.redis, bus.keys),
        breakers=Breakers(),
        retrying=Retrying(),
        api_version="v25.0",
        dry_run=log,
    )
    assert await dry.deliver(Destination(PIXEL, SecretStr(TOKEN), "TEST123"), [wa_event(1)]) == [None]
    [recorded] = await log.latest()
    assert recorded["path"] == f"/v25.0/{PIXEL}/events"
    assert recorded["body"] == {
        "data": [wa_event(1) | {"event_time": recorded["body"]["data"][0]["event_time"]}],
        "test_event_code": "TEST123",
    }
    assert TOKEN not in str(recorded)
    assert fake_graph.requests == []


def web_event(n: int) -> dict:
    return {
        "event_name": "Lead",
        "event_time": int(time.time()) - 5,
        "event_id": f"web_{n}",
        "action_source": "website",
        "event_source_url": "https://example.com/orcamento",
        "user_data": {"client_ip_address": "203.0.113.45", "client_user_agent": "Mozilla/5.0 (PLACEHOLDER)"},
    }


async def test_a_partly_accounted_batch_resends_alone_only_what_meta_deduplicates(
    sender, fake_graph, bus
) -> None:
    fake_graph.under_report_next(1)  # Meta counts one event fewer than it was sent, without saying which
    results = await sender.deliver(TO, [wa_event(0), web_event(1)])
    assert isinstance(results[0], OutcomeUnknown) and str(results[0].answer) == "HTTP 200 (partial_batch)"
    assert results[1] is None  # a website event: resent alone, Meta collapses copies with the same event_id
    assert [e["event_id"] for e in fake_graph.events_for(PIXEL)] == ["evt_0", "web_1", "web_1"]
    ledger = SentLedger(bus.redis, bus.keys)
    assert not await ledger.was_sent(PIXEL, "evt_0") and await ledger.was_sent(PIXEL, "web_1")
