import json

from eventbus import Envelope, subscribers
from eventbus.testing import samples
from eventbus.testing.waiting import eventually
from typer.testing import CliRunner
from wolfgang.__main__ import app
from wolfgang.tail import render


async def _subscribed(bus, channel):
    async def listening():
        return await subscribers(bus, channel) > 0

    await eventually(listening)


async def test_tail_prints_live_events_as_wire_json(acli, bus):
    running = acli("tail", "lead.created", "--count", "2", "--json")
    await _subscribed(bus, "lead.created")
    payload = samples.every_channel()["lead.created"]

    ids = [(await bus.emit(payload, company_id=samples.COMPANY)).event_id for _ in range(2)]

    result = await running
    assert result.exit_code == 0, result.stderr
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ids


async def test_tail_follows_only_the_channels_and_company_asked_for(acli, bus):
    running = acli(
        "tail", "lead.created", "lead.qualified", "--company-id", "cmp_mine", "--count", "1", "--json"
    )
    await _subscribed(bus, "lead.qualified")
    every = samples.every_channel()

    await bus.emit(every["message.received"], company_id="cmp_mine")
    await bus.emit(every["lead.created"], company_id="cmp_someone_else")
    wanted = await bus.emit(every["lead.qualified"], company_id="cmp_mine")

    result = await running
    assert json.loads(result.stdout)["id"] == wanted.event_id


async def test_tail_lines_show_type_correlation_source_and_payload(acli, bus):
    running = acli("tail", "--count", "1", "--wide")
    await _subscribed(bus, "message.received")

    await bus.emit(samples.message_received(body="Oi, tudo bem?"), company_id=samples.COMPANY)

    line = (await running).stdout
    assert "message.received" in line and '"Oi, tudo bem?"' in line
    assert "cor_" in line and "cmp_" in line and "tests" in line


def test_every_catalog_type_has_a_readable_line():
    for event_type, payload in samples.every_channel().items():
        event = Envelope.new(payload, source="tests", company_id=samples.COMPANY)
        text = render(event).plain
        assert event_type in text and event.correlation_id[-8:] in text


def test_tail_help_says_it_is_at_most_once():
    result = CliRunner().invoke(app, ["tail", "--help"])

    assert "At-most-once" in result.stdout
    assert "wolfgang events" in result.stdout


def test_tail_refuses_unknown_channels(cli):
    result = cli("tail", "lead.vanished")

    assert result.exit_code == 1
    assert "unknown channel 'lead.vanished'" in result.stderr
