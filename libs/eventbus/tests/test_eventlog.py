"""The catalog's logging rule (eventbus.eventlog): one line per publish and per handled event, with the seven
fields; its level and sampling configurable, the sampling the same in every process."""

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
import structlog
from eventbus import Bus, BusSettings, Consumer, Envelope, Subscription
from eventbus.eventlog import EventLog, use_writer
from eventbus.lanes import Lane
from eventbus.testing import samples
from eventbus.testing.waiting import eventually

SEVEN = {"event.id", "event.type", "event.version", "company_id", "correlation_id", "causation_id", "source"}


def test_a_published_and_a_handled_event_each_write_one_line_with_the_seven_fields() -> None:
    event = samples.envelope(samples.message_received())
    with structlog.testing.capture_logs() as lines:
        EventLog("info", 1.0).published(event, "1-0")
        EventLog("info", 1.0).handled(event, "agent-runtime", 1, 0.002)
    assert [line["event"] for line in lines] == ["event_published", "event_handled"]
    for line in lines:
        assert line.keys() >= SEVEN
        assert line["log_level"] == "info"
        assert line["event.id"] == event.id and line["correlation_id"] == event.correlation_id
    assert lines[1]["group"] == "agent-runtime"


def test_the_level_is_configurable_and_off_writes_nothing() -> None:
    event = samples.envelope(samples.message_received())
    with structlog.testing.capture_logs() as lines:
        EventLog("warning", 1.0).published(event, "1-0")
        EventLog("off", 1.0).published(event, "1-0")
        EventLog("info", 0.0).published(event, "1-0")
    assert [line["log_level"] for line in lines] == ["warning"]


def test_sampling_keeps_about_its_share_and_decides_by_event_id_alone() -> None:
    events = [samples.envelope(samples.message_received(i)) for i in range(2000)]
    log = EventLog("info", 0.25)
    kept = [e.id for e in events if log.sampled(e.id)]
    assert 350 < len(kept) < 650
    # Another process (another EventLog) keeps exactly the same events: a sampled event is followed end to end.
    assert kept == [e.id for e in events if EventLog("info", 0.25).sampled(e.id)]


def test_bus_settings_take_the_level_and_sampling_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EVENTBUS_EVENT_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("EVENTBUS_EVENT_LOG_SAMPLE", "0.1")
    settings = BusSettings()
    assert (settings.event_log_level, settings.event_log_sample) == ("debug", 0.1)
    monkeypatch.setenv("EVENTBUS_EVENT_LOG_SAMPLE", "2")
    with pytest.raises(ValueError, match="less than or equal"):
        BusSettings()


@pytest.mark.parametrize("batched", [False, True], ids=["per-event", "batch"])
async def test_the_bus_writes_the_line_for_each_publish_and_each_handled_event(
    redis_url: str, bus_settings: BusSettings, batched: bool
) -> None:
    handled: list[str] = []

    async def handle(event: Envelope) -> None:
        handled.append(event.id)

    async def handle_batch(events: Sequence[Envelope]) -> list[Exception | None]:
        handled.extend(event.id for event in events)
        return [None] * len(events)

    sub = (
        Subscription("message.received", batch_handler=handle_batch)
        if batched
        else Subscription("message.received", handle)
    )
    with structlog.testing.capture_logs() as lines:  # the bus resolves its logger when it is built
        async with Bus.from_url(redis_url, source="tests", settings=bus_settings) as bus:
            published = [
                await bus.emit(samples.message_received(i), company_id=samples.COMPANY) for i in range(3)
            ]
            async with Consumer(bus, "logged", [sub], block=timedelta(milliseconds=100)).running():
                await eventually(lambda: asyncio.sleep(0, len(handled) == 3))
    ids = [p.event_id for p in published]
    for name in ("event_published", "event_handled"):
        mine = [line for line in lines if line["event"] == name]
        assert sorted(line["event.id"] for line in mine) == sorted(ids), name  # one line each
        assert all(line.keys() >= SEVEN for line in mine)
    assert {line["group"] for line in lines if line["event"] == "event_handled"} == {"logged"}


class BufferingWriter:
    """A writer that holds its lines until flushed, as servicekit's does (stdout's buffer)."""

    def __init__(self) -> None:
        self.buffered: list[dict] = []
        self.flushed: list[dict] = []

    def write(self, level: str, fields: dict) -> None:
        self.buffered.append(fields)

    def flush(self) -> None:
        self.flushed += self.buffered
        self.buffered = []


async def test_a_handled_events_line_is_flushed_before_its_acknowledgement_leaves_for_redis(
    redis_url: str, bus_settings: BusSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The line is not flushed one by one (a system call each); a crash may lose the lines of events whose
    acknowledgements have not left (the stream delivers them again), never the line of an acknowledged one."""
    writer = BufferingWriter()
    unflushed_at_ack: list[str] = []
    acked: list[str] = []
    run = Lane.run

    async def run_checked(lane: Lane, script: Any, keys: list[str], args: list[Any]) -> Any:
        # The packed acknowledgements: read.lua's ARGV[8], admit.lua's ARGV[6] (lua/prelude.lua settle_packed).
        packed = args[7] if script is bus.scripts.read else args[5] if script is bus.scripts.admit else ""
        ids = [line.split(" ")[1] for line in packed.splitlines()]
        flushed = {line["event.id"] for line in writer.flushed}
        acked.extend(ids)
        unflushed_at_ack.extend(event_id for event_id in ids if event_id not in flushed)
        return await run(lane, script, keys, args)

    monkeypatch.setattr(Lane, "run", run_checked)
    use_writer(writer)
    try:
        async with Bus.from_url(redis_url, source="tests", settings=bus_settings) as bus:
            published = [
                await bus.emit(samples.message_received(i), company_id=samples.COMPANY) for i in range(3)
            ]
            sub = Subscription("message.received", _ignore)
            async with Consumer(bus, "flushed", [sub], block=timedelta(milliseconds=100)).running():
                await eventually(lambda: asyncio.sleep(0, len(acked) == 3))
    finally:
        use_writer(None)
    ids = sorted(p.event_id for p in published)
    assert sorted(acked) == ids and unflushed_at_ack == []
    assert sorted(line["event.id"] for line in writer.flushed if line["event"] == "event_handled") == ids


async def _ignore(event: Envelope) -> None:
    pass
