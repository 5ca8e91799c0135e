import asyncio
import json
from collections import Counter
from datetime import timedelta

import pytest
from eventbus import (
    Backoff,
    Bus,
    Consumer,
    DeadLetters,
    Envelope,
    PermanentFailure,
    Subscription,
    add_event_fields,
)
from eventbus.payloads import LeadCreated
from eventbus.testing import samples
from eventbus.testing.waiting import eventually
from prometheus_client import REGISTRY
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

FAST = Backoff(initial=0.01, maximum=0.05)
CH = "message.received"


def consumer(bus: Bus, group: str, *subs: Subscription, **kw) -> Consumer:
    kw.setdefault("block", timedelta(milliseconds=100))
    return Consumer(bus, group, list(subs), **kw)


async def publish_many(bus: Bus, n: int, **kw) -> list[str]:
    return [
        (await bus.emit(samples.message_received(i, **kw), company_id=samples.COMPANY)).event_id
        for i in range(n)
    ]


async def _group_idle(bus: Bus, group: str) -> bool:
    [info] = [g for g in await bus.redis.xinfo_groups(bus.keys.stream(CH)) if g["name"].decode() == group]
    return info["pending"] == 0 and info["lag"] == 0


async def test_dead_letter_replay_is_seen_by_its_group_only(bus: Bus) -> None:
    seen = {"fails": Counter(), "fine": Counter()}
    fixed = False

    async def fails(event: Envelope) -> None:
        if not fixed:
            raise PermanentFailure("400 from upstream")
        seen["fails"][event.id] += 1

    async def fine(event: Envelope) -> None:
        seen["fine"][event.id] += 1

    [event_id] = await publish_many(bus, 1)
    dead = DeadLetters(bus, CH, "fails")
    async with (
        consumer(bus, "fails", Subscription(CH, fails)).running(),
        consumer(bus, "fine", Subscription(CH, fine)).running(),
    ):
        [letter] = await eventually(dead.list)
        assert letter.reason == "permanent_failure" and letter.attempts == 1, "permanent errors skip retries"
        fixed = True
        await dead.replay(letter.id)
        await eventually(lambda: asyncio.sleep(0, seen["fails"][event_id] == 1))
        await eventually(lambda: _group_idle(bus, "fine"))
    assert seen["fine"] == {event_id: 1}


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"e": "not json at all"}, "invalid_event"),
        ({"e": json.dumps({"hello": "world"})}, "invalid_event"),
        ({"i": "evt_x", "t": "message.received", "v": "1", "e": "{}"}, "invalid_event"),
        (
            {"t": "lead.deleted", "v": "1", "e": json.dumps({"type": "lead.deleted", "version": 1})},
            "unknown_type",
        ),
        (
            {"t": "message.received", "v": "9", "e": json.dumps({"type": "message.received", "version": 9})},
            "unsupported_version",
        ),
        ({"t": "message.received", "v": "one", "e": "{}"}, "unsupported_version"),
        ({"nothing": "useful"}, "invalid_event"),
    ],
)
async def test_garbage_in_the_stream_is_dead_lettered_and_the_loop_goes_on(bus: Bus, fields, reason) -> None:
    handled = []

    async def handle(event: Envelope) -> None:
        handled.append(event.id)

    await bus.redis.xadd(bus.keys.stream(CH), fields)
    [good] = await publish_many(bus, 1)
    dead = DeadLetters(bus, CH, "g")
    async with consumer(bus, "g", Subscription(CH, handle)).running():
        [letter] = await eventually(dead.list)
        await eventually(lambda: asyncio.sleep(0, handled == [good]))
    assert letter.reason == reason
    assert letter.entry == fields, "the dead letter keeps the entry as it was"


async def test_an_event_of_another_type_in_a_channel_stream_is_dead_lettered(bus: Bus) -> None:
    lead = samples.envelope(samples.every_channel()["lead.created"])
    await bus.redis.xadd(
        bus.keys.stream(CH), {"i": lead.id, "t": "lead.created", "v": "1", "e": lead.to_wire()}
    )
    dead = DeadLetters(bus, CH, "g")
    async with consumer(bus, "g", Subscription(CH, lambda e: asyncio.sleep(0))).running():
        [letter] = await eventually(dead.list)
    assert letter.reason == "invalid_event" and "lead.created event found" in letter.error


async def test_publishing_from_a_handler_sets_causation_and_keeps_correlation(bus: Bus) -> None:
    async def reply(event: Envelope) -> None:
        await bus.emit(
            LeadCreated(lead_id="lead_1", company_id=event.company_id, channel="whatsapp"),
            company_id=event.company_id,
        )

    cause = samples.envelope(samples.message_received())
    await bus.publish(cause)
    async with consumer(bus, "agent", Subscription(CH, reply)).running():
        [(_, fields)] = await eventually(lambda: bus.redis.xrange(bus.keys.stream("lead.created")))
    effect = json.loads(fields[b"e"])
    assert effect["causation_id"] == cause.id
    assert effect["correlation_id"] == cause.correlation_id


async def test_handling_logs_carry_the_catalog_fields_and_never_the_payload(bus: Bus) -> None:
    async def failing(event: Envelope) -> None:
        raise PermanentFailure("rejected")

    event = samples.envelope(samples.message_received(body="meu cpf é 123.456.789-00"))
    await bus.publish(event)
    with capture_logs(processors=[merge_contextvars, add_event_fields]) as logs:
        async with consumer(bus, "logs", Subscription(CH, failing)).running():
            await eventually(DeadLetters(bus, CH, "logs").count)
    [line] = [entry for entry in logs if entry["event"] == "event_dead_lettered"]
    assert line["event.id"] == event.id and line["event.type"] == CH and line["event.version"] == 1
    assert line["correlation_id"] == event.correlation_id and line["company_id"] == samples.COMPANY
    assert "causation_id" in line and line["source"] == "tests"
    assert "123.456.789-00" not in repr(logs) and "+5511999999999" not in repr(logs)


async def test_a_consumer_stopped_before_its_loop_got_going_still_stops(bus: Bus) -> None:
    # A block left at once (a service whose next startup step fails, a script with nothing to do) must not
    # hang: the stop comes before the consume task's first step.
    idle = consumer(bus, "stopped-early", Subscription(CH, _nothing))
    async with asyncio.timeout(5):
        async with idle.running():
            pass
    assert idle.stopping and not await idle.alive()


async def _nothing(event: Envelope) -> None:
    return None


async def test_a_reclaimed_entry_is_not_run_while_its_slow_owner_still_holds_the_lease(bus: Bus) -> None:
    calls = Counter()
    gate = asyncio.Event()

    async def slow(event: Envelope) -> None:
        calls[event.id] += 1
        await gate.wait()

    [event_id] = await publish_many(bus, 1)
    a = consumer(
        bus, "lease", Subscription(CH, slow), name="a", visibility_timeout=timedelta(milliseconds=300)
    )
    async with a.running():
        await eventually(lambda: asyncio.sleep(0, calls[event_id] == 1))
        # simulate "a" stalling: its entry looks idle to others, but its lease is fresh
        await bus.redis.xclaim(
            bus.keys.stream(CH),
            "lease",
            "a",
            0,
            [event_id_entry := (await bus.redis.xrange(bus.keys.stream(CH)))[0][0]],
            idle=10_000,
            justid=True,
        )
        b = consumer(bus, "lease", Subscription(CH, slow), name="b", visibility_timeout=timedelta(seconds=30))
        async with b.running():
            await asyncio.sleep(0.5)
            assert calls[event_id] == 1, "b reclaimed the entry but must not run it under a's lease"
            gate.set()
            await eventually(lambda: _group_idle(bus, "lease"))
    assert calls[event_id] == 1 and event_id_entry


async def test_processed_ids_are_kept_within_their_count_bound_by_whole_buckets(
    redis_url: str, bus_settings
) -> None:
    # No hard ceiling: the consumer may lag the publisher by more than twice 20 entries on a busy machine.
    settings = bus_settings.model_copy(
        update={"stream_maxlen": 20, "processed_maxlen": 20, "stream_ceiling": 0}
    )
    async with Bus.from_url(redis_url, source="tests", settings=settings) as bus:
        handled = Counter()

        async def handle(event: Envelope) -> None:
            handled[event.id] += 1

        async with consumer(bus, "bounded", Subscription(CH, handle, concurrency=1), batch_size=5).running():
            for i in range(60):
                await bus.emit(samples.message_received(i), company_id=samples.COMPANY)
            await eventually(lambda: asyncio.sleep(0, len(handled) == 60))
            await eventually(lambda: _group_idle(bus, "bounded"))
        keys = bus.keys
        names = [n.decode() for n in await bus.redis.zrange(keys.processed_index(CH, "bounded"), 0, -1)]
        sizes = [await bus.redis.scard(keys.processed_bucket(CH, "bounded", n)) for n in names]
    # Whole buckets (32.8 s of ids each) go, oldest first, when a new one begins and the others still hold 20:
    # never fewer than the bound, and more by at most the oldest and the newest bucket.
    assert sum(sizes) == int(await bus.redis.get(keys.processed_count(CH, "bounded"))) >= 20
    assert len(sizes) <= 2 or sum(sizes[1:-1]) < 20
    assert await bus.redis.zcard(keys.processed(CH, "bounded")) == 0  # fresh ULIDs: all in buckets


async def test_a_hung_handler_times_out_and_is_retried(bus: Bus) -> None:
    calls = Counter()

    async def hangs_once(event: Envelope) -> None:
        calls[event.id] += 1
        if calls[event.id] == 1:
            await asyncio.Event().wait()  # never set: an upstream that never answers

    [event_id] = await publish_many(bus, 1)
    sub = Subscription(CH, hangs_once, backoff=FAST, timeout=timedelta(milliseconds=100))
    async with consumer(bus, "hung", sub).running():
        await eventually(lambda: asyncio.sleep(0, calls[event_id] == 2))
        await eventually(lambda: _group_idle(bus, "hung"))
    assert calls == {event_id: 2}


async def test_events_that_trickle_in_are_read_and_admitted_by_the_wait_itself(
    bus: Bus, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An idle consumer waits with read.lua pipelined behind its blocking XREAD, so an event that arrives
    # alone is read and admitted in that one round trip (the old way took a second one for the admit).
    from eventbus.idle import IdleWait

    waits: list[int | None] = []
    original = IdleWait._wait_and_read

    async def spying(self: IdleWait, room: int):
        admitted, reply = await original(self, room)
        waits.append(None if admitted is None else len(admitted))
        return admitted, reply

    monkeypatch.setattr(IdleWait, "_wait_and_read", spying)
    handled: list[str] = []

    async def handle(event: Envelope) -> None:
        handled.append(event.id)

    async with consumer(bus, "trickle", Subscription(CH, handle)).running():
        ids = []
        for i in range(5):
            await asyncio.sleep(0.15)  # the consumer is waiting again by now
            ids.append((await bus.emit(samples.message_received(i), company_id=samples.COMPANY)).event_id)
            await eventually(lambda: asyncio.sleep(0, len(handled) == len(ids)))
    assert handled == ids
    assert sum(1 for w in waits if w) >= 4  # the first wait may go the old way: nothing seen yet


async def test_idle_replicas_do_not_all_wake_up_for_every_event(bus: Bus) -> None:
    # An idle consumer's fast wait (a plain XREAD) is not group-aware: every idle replica wakes for every new
    # entry and all but one find it taken. A replica that lost such a race waits the group-aware way for a
    # while (Redis hands each new entry to one blocked consumer), so the losses stay few.
    handled: Counter[str] = Counter()

    async def handle(event: Envelope) -> None:
        handled[event.id] += 1

    def lost() -> float:
        sample = REGISTRY.get_sample_value("eventbus_idle_wakeups_lost_total", {"type": CH, "group": "herd"})
        return sample or 0.0

    before = lost()
    ids = []
    async with (
        consumer(bus, "herd", Subscription(CH, handle), name="a").running(),
        consumer(bus, "herd", Subscription(CH, handle), name="b").running(),
    ):
        for i in range(30):
            await asyncio.sleep(0.05)  # both replicas are waiting again by now
            ids.append((await bus.emit(samples.message_received(i), company_id=samples.COMPANY)).event_id)
            await eventually(lambda: asyncio.sleep(0, len(handled) == len(ids)))
    assert set(handled) == set(ids) and set(handled.values()) == {1}
    assert lost() - before <= 6  # one replica would lose about 30 races without the group-aware waits


async def test_a_server_that_forgot_the_scripts_while_the_consumer_waited_still_gets_events_handled(
    bus: Bus,
) -> None:
    handled: list[str] = []

    async def handle(event: Envelope) -> None:
        handled.append(event.id)

    async with consumer(bus, "forgetful", Subscription(CH, handle)).running():
        first = (await bus.emit(samples.message_received(1), company_id=samples.COMPANY)).event_id
        await eventually(lambda: asyncio.sleep(0, handled == [first]))
        await asyncio.sleep(0.15)
        await bus.redis.script_flush()  # a restarted server: the pipelined read.lua answers NOSCRIPT
        second = (await bus.emit(samples.message_received(2), company_id=samples.COMPANY)).event_id
        await eventually(lambda: asyncio.sleep(0, handled == [first, second]))
