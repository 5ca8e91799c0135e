import asyncio
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
    metrics,
    tracing,
)
from eventbus.operations import group_stats
from eventbus.testing import samples
from eventbus.testing.waiting import eventually
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY, CollectorRegistry, Histogram

CH = "lead.qualified"


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    tracing.refresh()  # an earlier test may have published less than a second ago, with no provider
    return exporter


async def test_publish_and_handle_spans_are_linked_through_traceparent(bus: Bus, spans) -> None:
    handled: list[Envelope] = []

    async def handle(event: Envelope) -> None:
        handled.append(event)

    published = await bus.emit(samples.every_channel()[CH], company_id=samples.COMPANY)
    async with Consumer(
        bus, "traced", [Subscription(CH, handle)], block=timedelta(milliseconds=100)
    ).running():
        await eventually(lambda: asyncio.sleep(0, handled))
    [event] = handled
    assert event.id == published.event_id and event.traceparent is not None
    by_name = {span.name: span for span in spans.get_finished_spans()}
    producer, consumer = by_name[f"publish {CH}"], by_name[f"handle {CH}"]
    assert consumer.context.trace_id == producer.context.trace_id
    assert consumer.parent.span_id == producer.context.span_id
    assert consumer.attributes["messaging.message.id"] == event.id


async def test_with_tracing_on_each_event_of_a_batch_gets_its_own_span_and_its_replies_stay_on_it(
    bus: Bus, spans
) -> None:
    # No span is current during a batch call; a publish names its cause (causation_id), and the bus makes it a
    # child of that event's span.
    batches: list[list[str]] = []
    replies: dict[str, str] = {}

    async def handle(events) -> list[Exception | None]:
        batches.append([e.id for e in events])
        created = samples.every_channel()["lead.created"]
        outcomes = await bus.publish_many(
            [
                (Envelope.new(created, source="tests", company_id=e.company_id, causation_id=e.id), None)
                for e in events
            ]
        )
        replies.update((e.id, o.event_id) for e, o in zip(events, outcomes, strict=True))
        return [PermanentFailure("refused") if e.id == batches[0][-1] else None for e in events]

    published = [
        (await bus.emit(samples.every_channel()[CH], company_id=samples.COMPANY)).event_id for _ in range(5)
    ]
    sub = Subscription(CH, batch_handler=handle, max_batch=64)
    async with Consumer(bus, "traced-batches", [sub], block=timedelta(milliseconds=100)).running():
        await eventually(lambda: asyncio.sleep(0, len(replies) == 5))
        await eventually(DeadLetters(bus, CH, "traced-batches").count)
    assert max(map(len, batches)) > 1, "tracing does not cost the batch"
    finished = spans.get_finished_spans()
    handling = {s.attributes["messaging.message.id"]: s for s in finished if s.name == f"handle {CH}"}
    publishing = {
        s.attributes["messaging.message.id"]: s for s in finished if s.name == "publish lead.created"
    }
    origin = {s.attributes["messaging.message.id"]: s for s in finished if s.name == f"publish {CH}"}
    for event_id in published:
        handled = handling[event_id]
        assert handled.parent.span_id == origin[event_id].context.span_id  # from its own publisher
        assert publishing[replies[event_id]].parent.span_id == handled.context.span_id  # its reply, under it
    refused = handling[batches[0][-1]]
    assert not refused.status.is_ok and refused.events[0].name == "exception"
    assert all(handling[i].status.is_unset for i in published if i != batches[0][-1])


def metric(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_metrics_count_published_handled_retried_and_dead_lettered(bus: Bus) -> None:
    group = f"m{bus.settings.prefix}"
    calls = 0

    async def handle(event: Envelope) -> None:
        nonlocal calls
        calls += 1
        if event.payload.score < 0.5:
            raise PermanentFailure("not worth it")
        if calls == 1:
            raise TimeoutError("slow upstream")

    before = metric("eventbus_published_total", type=CH, source="tests")
    good = samples.every_channel()[CH]
    bad = good.model_copy(update={"score": 0.1})
    await bus.emit(good, company_id=samples.COMPANY)
    await bus.emit(bad, company_id=samples.COMPANY)
    sub = Subscription(CH, handle, backoff=Backoff(initial=0.01), concurrency=1)
    consumer = Consumer(
        bus, group, [sub], block=timedelta(milliseconds=100), stats_interval=timedelta(seconds=0.1)
    )
    async with consumer.running():
        await eventually(DeadLetters(bus, CH, group).count)
        await eventually(
            lambda: asyncio.sleep(0, metric("eventbus_group_dead_letters", type=CH, group=group) == 1)
        )
    assert metric("eventbus_published_total", type=CH, source="tests") - before == 2
    assert metric("eventbus_handled_total", type=CH, group=group) == 1
    assert metric("eventbus_retried_total", type=CH, group=group) == 1
    assert metric("eventbus_failed_total", type=CH, group=group) == 2
    assert metric("eventbus_dead_lettered_total", type=CH, group=group, reason="permanent_failure") == 1
    assert metric("eventbus_handle_seconds_count", type=CH, group=group) == 1
    [stats] = [s for s in await group_stats(bus, CH) if s.group == group]
    assert stats.pending == 0 and stats.lag == 0 and stats.dead_letters == 1


def test_handler_times_counted_and_folded_per_batch_export_as_if_observed_one_by_one() -> None:
    registry = CollectorRegistry()
    buckets = metrics.HANDLE_SECONDS._upper_bounds
    observed = Histogram("observed_seconds", "one by one", ["g"], buckets=buckets, registry=registry)
    tallied = Histogram("tallied_seconds", "folded", ["g"], buckets=buckets, registry=registry)
    tally = metrics.Tally(tallied.labels("a"))
    values = [0.0, 0.0005, 0.0007, 0.001, 0.003, 0.05, 2.5, 11.0, 0.0001]
    for batch in (values[:4], values[4:], []):
        for value in batch:
            observed.labels("a").observe(value)
            tally.observe(value)
        tally.fold()

    def series(name: str) -> dict:
        return {
            (s.name.removeprefix(name), s.labels.get("le")): s.value
            for family in registry.collect()
            if family.name == name
            for s in family.samples
            if not s.name.endswith("_created")
        }

    assert series("tallied_seconds") == pytest.approx(
        series("observed_seconds")
    )  # the sum adds in another order
    assert series("tallied_seconds")[("_count", None)] == len(values)
