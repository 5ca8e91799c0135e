"""The service end to end on a real Redis: catalog events in, Conversions API events at the fake Graph API."""

from datetime import UTC, datetime, timedelta

import pytest
from eventbus import DeadLetters
from eventbus.operations import forget_processed, group_stats, replay_since
from eventbus.testing.waiting import eventually
from facebook_capi import handlers, hashing
from structlog.testing import capture_logs

GROUP = "facebook-capi"
PIXEL, TOKEN, WABA = "1234567890", "EAAGtest-SECRET-capi-token-0123456789", "102030405060708"
COMPANY = "cmp_01J8Z0P1F7K4V6E9QW3M0N1B2C"


async def dead_letters(bus, channel: str, count: int = 1):
    letters = DeadLetters(bus, channel, GROUP)

    async def listed():
        found = await letters.list()
        return found if len(found) >= count else None

    return await eventually(listed, timeout=10)


async def test_ad_lead_goes_through_its_funnel_as_business_messaging_events(service, events) -> None:
    await service.configure()
    created = events.lead_created()
    await service.bus.publish(created)
    [lead] = await service.wait_received(1)
    await service.bus.publish(events.lead_qualified())
    await service.bus.publish(events.contract_signed())
    # lead.qualified and contract.signed are different channels: no order between them.
    received = sorted(await service.wait_received(3), key=lambda e: e["event_name"])
    assert [e["event_name"] for e in received] == ["LeadSubmitted", "Purchase", "QualifiedLead"]
    for event in received:
        assert (event["action_source"], event["messaging_channel"]) == ("business_messaging", "whatsapp")
        assert event["user_data"] == {
            "whatsapp_business_account_id": WABA,
            "ctwa_clid": "ARAkPLACEHOLDERctwaClidValue-EXAMPLE-0123456789",
        }
    assert lead["event_id"] == created.id
    assert lead["event_time"] == int(created.occurred_at.timestamp())
    assert received[1]["custom_data"]["value"] == 1497.9
    await eventually(lambda: _stat(service, "sent", 3))


async def test_organic_lead_is_matched_later_through_the_lead_index(service, events) -> None:
    await service.configure()
    await service.bus.publish(events.lead_created(ctwa_clid=None, phone="+55 (11) 98765-4321"))
    await service.wait_received(1)
    await service.bus.publish(events.contract_signed())
    lead, purchase = await service.wait_received(2)
    assert (lead["event_name"], purchase["event_name"]) == ("Lead", "Purchase")
    assert purchase["action_source"] == "chat"
    assert purchase["user_data"]["ph"] == [hashing.sha256_hex("5511987654321")]
    assert purchase["user_data"] == lead["user_data"]


async def test_contract_without_lead_id_is_sent_with_what_is_known_and_the_gap_counted(
    service, events
) -> None:
    await service.configure()
    await service.bus.publish(events.contract_signed(lead_id=None))
    [purchase] = await service.wait_received(1)
    assert purchase["user_data"] == {"country": [hashing.sha256_hex("br")]}
    await eventually(lambda: _stat(service, "lead_id_missing", 1))
    assert (await service.stats())["sent"] == 1


async def test_company_without_configuration_is_skipped_and_counted(service, events) -> None:
    await service.bus.publish(events.lead_created())
    await service.bus.publish(events.lead_qualified())

    async def skipped():
        return (await service.stats()).get("skipped_no_config") == 2

    await eventually(skipped)
    assert service.graph.requests == []
    assert await DeadLetters(service.bus, "lead.created", GROUP).count() == 0


async def test_disabled_company_is_skipped(service, events) -> None:
    await service.configure(enabled=False)
    await service.bus.publish(events.lead_created())

    async def skipped():
        return (await service.stats()).get("skipped_disabled") == 1

    await eventually(skipped)
    assert service.graph.requests == []


async def test_replayed_event_is_accepted_by_meta_once(service, events) -> None:
    await service.configure()
    since = datetime.now(UTC) - timedelta(seconds=5)
    await service.bus.publish(events.lead_created())
    await service.wait_received(1)
    await eventually(lambda: _stat(service, "sent", 1))
    # Acknowledged, so marked processed (the same step): a mark written after the forget below would hide
    # the event from the second replay.
    await eventually(lambda: _acknowledged(service, "lead.created"))
    # A replay is skipped by the processed-id set; forgetting that set (a rebuild) leaves the sent record.
    await replay_since(service.bus, "lead.created", GROUP, since)
    await forget_processed(service.bus, "lead.created", GROUP)
    await replay_since(service.bus, "lead.created", GROUP, since)
    await eventually(lambda: _stat(service, "already_sent", 1))
    assert len(service.received()) == 1


async def test_handler_run_twice_after_a_crash_before_the_ack_sends_once(service, events) -> None:
    await service.configure()
    event = events.lead_created()
    ports = service.app.state.ports
    await handlers.report_lead(event, ports=ports)
    await handlers.report_lead(event, ports=ports)  # what a crash between Meta's 200 and the XACK replays
    assert len(service.received()) == 1
    assert (await service.stats())["already_sent"] == 1


async def test_rate_limit_then_success_sends_once(service, events) -> None:
    await service.configure()
    service.graph.fail_with_code(613, subcode=1487742)
    await service.bus.publish(events.lead_created())
    await service.wait_received(1)
    await eventually(lambda: _stat(service, "sent", 1))
    assert service.event_requests() == 2
    assert len(service.received()) == 1


async def test_invalid_token_dead_letters_with_metas_code(service, events) -> None:
    await service.configure(access_token="EAAGrevoked-token")
    await service.bus.publish(events.lead_created())
    [letter] = await dead_letters(service.bus, "lead.created")
    assert letter.reason == "permanent_failure"
    assert "code 190" in letter.error and "Invalid OAuth access token" in letter.error
    assert "EAAGrevoked-token" not in letter.error
    assert service.received() == []


async def test_batch_with_one_invalid_event_delivers_the_others_once(make_service, events) -> None:
    async with make_service(batch_max_delay=0.5) as service:
        await service.configure()
        service.graph.invalid_ctwa_clids.add("ARAkEXPIRED")
        leads = [events.lead_created(f"lead_{n}", ctwa_clid=f"ARAk{n}") for n in range(5)]
        leads[2] = events.lead_created("lead_2", ctwa_clid="ARAkEXPIRED")
        for lead in leads:
            await service.bus.publish(lead)
        [letter] = await dead_letters(service.bus, "lead.created")
        assert letter.event_id == leads[2].id and "code 100/2804087" in letter.error
        received = await service.wait_received(4)
        await eventually(lambda: _stat(service, "sent", 4))
        ids = sorted(e["event_id"] for e in service.received())
        assert ids == sorted(lead.id for n, lead in enumerate(leads) if n != 2)
        # One rejected batch of 5, then halves until the bad event is alone: never one request per event.
        assert service.event_requests() < 5 + 5
        assert len(received) == 4


async def test_more_handlers_in_flight_than_redis_connections_wait_for_one_and_none_fails(
    make_service, events, bus
) -> None:
    """One server: the pool blocks when full. A cluster client's pools raise instead of waiting, so there
    the app sizes them for every handler in flight."""
    async with make_service() as service:
        await service.configure()
    # Waiting in the stream while the service is away, so that it reads them at once: 40 handlers together.
    leads = [events.lead_created(f"lead_{n:02d}", ctwa_clid=f"ARAk{n}") for n in range(40)]
    for lead in leads:
        await bus.publish(lead)
    with capture_logs() as logs:
        async with make_service(redis_max_connections=1, concurrency=64, batch_max_delay=0.3) as service:
            await service.wait_received(40)
            await eventually(lambda: _stat(service, "sent", 40))
    assert [line for line in logs if line["event"] == "event_handler_failed"] == []
    assert sorted(e["event_id"] for e in service.received()) == sorted(lead.id for lead in leads)


async def test_event_older_than_seven_days_is_dead_lettered_with_the_reason(service, events) -> None:
    await service.configure()
    await service.bus.publish(events.lead_created(occurred_at=datetime.now(UTC) - timedelta(days=8)))
    [letter] = await dead_letters(service.bus, "lead.created")
    assert "event_too_old" in letter.error and "7 days" in letter.error
    assert service.graph.requests == []


async def test_test_event_code_reaches_meta(service, events) -> None:
    await service.configure(test_event_code="TEST12345")
    await service.bus.publish(events.lead_created())
    await service.wait_received(1)
    assert service.graph.events[PIXEL][0].test_event_code == "TEST12345"


async def test_dry_run_records_the_request_and_sends_nothing(make_service, events) -> None:
    async with make_service(dry_run=True) as service:
        await service.configure()
        created = events.lead_created()
        await service.bus.publish(created)

        async def recorded():
            r = await service.http.get(
                "/v1/dry-run/requests", headers={"Authorization": "Bearer dev-service-token"}
            )
            return r.json()

        [request] = await eventually(recorded)
        assert request["path"] == f"/v25.0/{PIXEL}/events"
        assert request["body"]["data"][0]["event_id"] == created.id
        assert TOKEN not in str(request)
        assert service.graph.requests == []
        # counted right after the request is recorded, by the handler: it may trail the record by a moment
        await eventually(lambda: _stat(service, "dry_run", 1))


async def test_no_log_line_carries_the_access_token(make_service, events, caplog) -> None:
    caplog.set_level("DEBUG")
    with capture_logs() as logs:
        async with make_service() as service:
            await service.configure()
            service.graph.fail_with_code(4)
            await service.bus.publish(events.lead_created())
            await service.wait_received(1)
            await service.configure(company_id="cmp_other", access_token=TOKEN + "-wrong")
            await service.bus.publish(events.lead_created("lead_x", company_id="cmp_other"))
            await dead_letters(service.bus, "lead.created")
    assert any(line.get("event") == "conversion_sent" for line in logs)
    assert any(line.get("event") == "event_dead_lettered" for line in logs)
    for line in logs:
        assert TOKEN not in repr(line)
    assert TOKEN not in caplog.text


async def _stat(service, outcome: str, value: int) -> bool:
    return (await service.stats()).get(outcome) == value


async def _acknowledged(service, channel: str) -> bool:
    """The group holds nothing read and not yet acknowledged on ``channel``."""
    return any(g.group == GROUP and g.pending == 0 for g in await group_stats(service.bus, channel))


@pytest.fixture(autouse=True)
def _no_sleeping_consumer_backoff(monkeypatch):
    """Consumer retries of SendInProgress and the like wait 0.5 s by default; tests need not."""
    from eventbus import Backoff

    monkeypatch.setattr(Backoff, "delay", lambda self, attempt: 0.05)


async def test_the_access_token_is_stored_encrypted_and_still_reaches_meta(service, events) -> None:
    await service.configure()
    stored = [
        await service.bus.redis.get(key)
        async for key in service.bus.redis.scan_iter(match=service.bus.keys.service(GROUP, "*"))
        if await service.bus.redis.type(key) == b"string"
    ]
    assert stored and not any(TOKEN.encode() in value for value in stored)
    assert any(b'"access_token": "fernet:' in value for value in stored)
    await service.bus.publish(events.lead_created())
    await service.wait_received(1)  # the fake Graph API accepts only the pixel's token
