import asyncio
import types
from datetime import timedelta
from typing import Any

import pytest
from eventbus import Bus, BusSettings, BusUnavailable, Consumer, Envelope, Published, catalog, tap
from eventbus.errors import InvalidEvent, UnknownEventType
from eventbus.lanes import BROKEN, Lane
from eventbus.payloads import LeadCreated
from eventbus.testing import samples
from eventbus.testing.waiting import eventually
from redis.asyncio.cluster import RedisCluster


async def test_each_catalog_type_round_trips_through_a_consumer(bus: Bus) -> None:
    received: dict[str, Envelope] = {}

    async def record(event: Envelope) -> None:
        received[event.type] = event

    sent = {}
    for event_type, payload in samples.every_channel().items():
        sent[event_type] = samples.envelope(payload)
        await bus.publish(sent[event_type])
    async with Consumer(
        bus, "roundtrip", dict.fromkeys(sent, record), block=timedelta(milliseconds=100)
    ).running():
        await eventually(lambda: asyncio.sleep(0, len(received) == len(sent)))
    assert received == sent


async def test_duplicate_publish_with_the_same_natural_key_publishes_once(bus: Bus) -> None:
    first = await bus.publish(samples.envelope(samples.message_received(1)), dedupe_key="ins_1:3EB0C767")
    again = await bus.publish(samples.envelope(samples.message_received(1)), dedupe_key="ins_1:3EB0C767")
    assert not first.duplicate and again.duplicate
    assert again.event_id == first.event_id
    assert await bus.redis.xlen(bus.keys.stream("message.received")) == 1


async def test_a_very_long_natural_key_still_dedupes(bus: Bus) -> None:
    key = "k" * 5000
    first = await bus.publish(samples.envelope(samples.message_received()), dedupe_key=key)
    assert (
        await bus.publish(samples.envelope(samples.message_received()), dedupe_key=key)
    ).event_id == first.event_id


async def test_publishing_outside_the_catalog_is_an_error_and_publishes_nothing(bus: Bus) -> None:
    event = samples.envelope(samples.every_channel()["lead.created"])
    with pytest.raises(UnknownEventType):
        await bus.publish(event.model_copy(update={"type": "lead.deleted"}))
    with pytest.raises(InvalidEvent):
        await bus.publish(event.model_copy(update={"version": 7}))
    assert await bus.redis.exists(bus.keys.stream("lead.created")) == 0


async def test_publish_while_redis_is_unreachable_raises_bus_unavailable(redis_server_factory) -> None:
    server = redis_server_factory(appendonly=False)
    async with Bus.from_url(server.url, source="tests") as bus:
        server.kill()
        with pytest.raises(BusUnavailable):
            await bus.publish(samples.envelope(samples.message_received()))


async def test_publish_many_appends_each_event_in_order_and_reports_each_outcome(bus: Bus) -> None:
    first = await bus.publish(samples.envelope(samples.message_received(0)), dedupe_key="ins_1:m0")
    events = [samples.envelope(samples.message_received(n)) for n in range(5)]
    outcomes = await bus.publish_many([(event, f"ins_1:m{n}") for n, event in enumerate(events)])
    assert outcomes[0] == Published(first.event_id, None, duplicate=True)  # m0 was published already
    assert [o.event_id for o in outcomes[1:]] == [e.id for e in events[1:]]
    assert not any(o.duplicate for o in outcomes[1:])
    entries = await bus.redis.xrange(bus.keys.stream("message.received"))
    assert [fields[b"i"].decode() for _, fields in entries] == [first.event_id, *(e.id for e in events[1:])]


async def test_publish_many_reports_an_event_outside_the_catalog_as_its_own_failure(bus: Bus) -> None:
    good = samples.envelope(samples.message_received())
    bad = good.model_copy(update={"version": 7})
    outcomes = await bus.publish_many([(bad, None), (good, None)])
    assert isinstance(outcomes[0], InvalidEvent)
    assert outcomes[1] == Published(good.id, outcomes[1].entry_id, duplicate=False)
    entries = await bus.redis.xrange(bus.keys.stream("message.received"))
    assert [fields[b"i"].decode() for _, fields in entries] == [good.id]


def test_a_round_trip_cancelled_under_its_callers_reads_as_redis_away_not_a_bug() -> None:
    from eventbus.batching import settled
    from redis.exceptions import ConnectionError as RedisConnectionError

    ok, failed = b"OK", ValueError("bad reply")
    replies = settled([ok, asyncio.CancelledError(), failed])
    assert replies[0] is ok and replies[2] is failed
    assert isinstance(replies[1], RedisConnectionError)


async def test_publish_many_while_redis_is_unreachable_reports_each_event_unavailable(
    redis_server_factory,
) -> None:
    server = redis_server_factory(appendonly=False)
    async with Bus.from_url(server.url, source="tests") as bus:
        server.kill()
        outcomes = await bus.publish_many(
            [(samples.envelope(samples.message_received(n)), None) for n in range(3)]
        )
    assert len(outcomes) == 3 and all(isinstance(o, BusUnavailable) for o in outcomes)


def _write(writer: Any, command: list[bytes]) -> None:
    writer.writelines(command)


# redis-py 8.1's connection writes with ``self._writer.writelines(...)``; a connection closed meanwhile (a
# node killed in a failover) has no writer any more (redis/redis-py#4287). The same code, run as redis-py's
# module, stands in for it.
_redis_send_packed_command = types.FunctionType(_write.__code__, {"__name__": "redis.asyncio.connection"})


async def test_a_connection_closing_under_a_publish_is_bus_unavailable_not_a_crash(
    bus: Bus, monkeypatch
) -> None:
    async def closing(keys, args):
        _redis_send_packed_command(None, [b"EVALSHA"])

    monkeypatch.setattr(bus, "_publish_batched", closing)
    with pytest.raises(BusUnavailable, match="connection closed while writing"):
        await bus.publish(samples.envelope(samples.message_received()))


async def test_a_consumer_backs_off_and_goes_on_when_its_connection_closes_mid_write(
    bus: Bus, monkeypatch
) -> None:
    from eventbus.reader import Reader

    ensure_group = Reader._ensure_group
    closed = [True]

    async def closing_once(self):
        if closed and closed.pop():
            _redis_send_packed_command(None, [b"XGROUP"])
        await ensure_group(self)

    monkeypatch.setattr(Reader, "_ensure_group", closing_once)
    handled: list[Envelope] = []

    async def record(event: Envelope) -> None:
        handled.append(event)

    event = samples.envelope(samples.message_received())
    await bus.publish(event)
    async with Consumer(
        bus, "closing", {"message.received": record}, block=timedelta(milliseconds=100)
    ).running():
        await eventually(lambda: asyncio.sleep(0, handled))
    assert handled == [event] and not closed


async def test_an_attribute_error_of_our_own_is_not_disguised_as_an_outage(bus: Bus, monkeypatch) -> None:
    async def buggy(keys, args):
        None.writelines([b"EVALSHA"])  # type: ignore[attr-defined]

    monkeypatch.setattr(bus, "_publish_batched", buggy)
    with pytest.raises(AttributeError):
        await bus.publish(samples.envelope(samples.message_received()))


async def test_publish_also_announces_the_event_live(bus: Bus) -> None:
    async with tap(bus, "lead.created") as events:
        await asyncio.sleep(0.05)
        event = samples.envelope(samples.every_channel()["lead.created"])
        await bus.publish(event)
        assert await asyncio.wait_for(anext(events), 5) == event


async def test_pattern_tap_sees_matching_channels_only(bus: Bus) -> None:
    async with tap(bus, pattern="contract.*") as events:
        await asyncio.sleep(0.05)
        await bus.publish(samples.envelope(samples.every_channel()["lead.created"]))
        signed = samples.envelope(samples.every_channel()["contract.signed"])
        await bus.publish(signed)
        assert (await asyncio.wait_for(anext(events), 5)).id == signed.id


async def test_streams_are_trimmed_to_their_configured_length(
    redis_url: str, bus_settings: BusSettings
) -> None:
    settings = bus_settings.model_copy(update={"stream_maxlen": 100})
    async with Bus.from_url(redis_url, source="tests", settings=settings) as bus:
        for n in range(1000):
            await bus.emit(samples.message_received(n), company_id=samples.COMPANY)
        length = await bus.redis.xlen(bus.keys.stream("message.received"))
    assert 100 <= length < 300, "approximate trimming keeps about maxlen entries"


async def test_emit_wraps_a_payload_in_an_envelope_from_this_service(bus: Bus) -> None:
    published = await bus.emit(
        LeadCreated(lead_id="lead_1", company_id=samples.COMPANY, channel="whatsapp"),
        company_id=samples.COMPANY,
    )
    [(_, fields)] = await bus.redis.xrange(bus.keys.stream("lead.created"))
    event = catalog.parse(fields[b"e"])
    assert event.id == published.event_id and event.source == "tests"
    assert fields[b"i"].decode() == event.id and fields[b"t"] == b"lead.created" and fields[b"v"] == b"1"


def test_processed_ids_must_outlive_the_stream() -> None:
    with pytest.raises(ValueError, match="processed_retention"):
        BusSettings(stream_max_age=timedelta(days=7), processed_retention=timedelta(days=1))


async def test_a_consumer_lane_is_one_connection_of_its_own_to_the_channels_server_without_socket_timeout(
    bus: Bus,
) -> None:
    """The consumer's read loop must send at once (eventbus.lanes): its lane is a line (one connection) with no
    socket timeout, applies the bus client's own around each call, goes to the server holding the channel (its
    node on a cluster), and closing it leaves the bus client alone."""
    stream = bus.keys.stream("message.received")
    lane = Lane(bus.redis, stream)
    line = await lane.line()
    assert line is not None
    assert line.connection.socket_timeout is None
    assert line.timeout == 10
    if isinstance(bus.redis, RedisCluster):
        node = bus.redis.get_node_from_key(stream)
        assert line.connection.port == node.port
    [reply] = await line.round_trip([(("SET", f"{stream}:lane", "1"), {})])  # same slot as the stream
    assert reply is True
    await lane.aclose()
    assert await bus.redis.get(f"{stream}:lane") == b"1"


async def test_calls_on_one_lane_take_turns_and_each_gets_its_own_reply(bus: Bus) -> None:
    # A consumer's flush of acknowledgements can still be on its lane when the loop reads again: one
    # connection carries one round trip at a time, so the second waits for the first.
    stream = bus.keys.stream("message.received")
    echo = bus.redis.register_script("return ARGV[1]")
    lane = Lane(bus.redis, stream)
    try:
        replies = await asyncio.gather(*(lane.run(echo, [stream], [str(i)]) for i in range(20)))
    finally:
        await lane.aclose()
    assert replies == [str(i).encode() for i in range(20)]


async def test_a_lane_raises_on_a_dropped_connection_rather_than_send_the_call_again(bus: Bus) -> None:
    # A consumer's read may have run before its connection dropped; reading again blindly would leave the
    # first batch pending until reclaimed. The consumer loop reads its own pending entries instead.
    stream = bus.keys.stream("message.received")
    counter = f"{stream}:calls"  # same slot as the stream
    count = bus.redis.register_script("return redis.call('INCR', KEYS[1])")
    lane = Lane(bus.redis, stream)
    try:
        assert await lane.run(count, [counter], []) == 1
        line = await lane.line()
        assert line is not None
        [own_id] = await line.round_trip([(("CLIENT", "ID"), {})])
        kill = ("CLIENT", "KILL", "ID", own_id)  # the server drops the lane's connection
        if isinstance(bus.redis, RedisCluster):
            await bus.redis.execute_command(*kill, target_nodes=bus.redis.get_node_from_key(stream))
        else:
            await bus.redis.execute_command(*kill)
        with pytest.raises(BROKEN):
            await lane.run(count, [counter], [])
        assert await lane.run(count, [counter], []) == 2  # the next call connects afresh; none ran twice
    finally:
        await lane.aclose()
