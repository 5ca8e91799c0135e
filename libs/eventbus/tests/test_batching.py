"""Concurrent publishes share round trips (eventbus.batching), and each caller still gets its own answer: on one
server, and per node on a cluster (``make test-cluster`` runs this file there too)."""

import asyncio

import pytest
from eventbus import Bus, BusUnavailable
from eventbus.batching import ScriptBatcher
from eventbus.testing import samples

CH = "message.received"


def _spy_on_batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    sizes: list[int] = []
    execute = ScriptBatcher._execute

    async def recording(self: ScriptBatcher, batch: list) -> list:
        sizes.append(len(batch))
        return await execute(self, batch)

    monkeypatch.setattr(ScriptBatcher, "_execute", recording)
    return sizes


async def test_concurrent_publishes_share_round_trips_and_each_gets_its_own_event_id(
    bus: Bus, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches = _spy_on_batches(monkeypatch)
    events = [samples.envelope(samples.message_received(i)) for i in range(200)]
    published = await asyncio.gather(*(bus.publish(e, dedupe_key=f"k{i}") for i, e in enumerate(events)))
    assert [p.event_id for p in published] == [e.id for e in events]
    assert not any(p.duplicate for p in published)
    stored = [f[b"i"].decode() for _, f in await bus.redis.xrange(bus.keys.stream(CH))]
    assert sorted(stored) == sorted(e.id for e in events)
    # the first goes alone at once; the 199 that queued behind it leave in pipelines, not one by one
    assert sum(batches) == 199 and len(batches) <= 4


async def test_a_lone_publish_is_not_held_back_for_a_batch(bus: Bus, monkeypatch: pytest.MonkeyPatch) -> None:
    batches = _spy_on_batches(monkeypatch)
    for i in range(3):
        await bus.emit(samples.message_received(i), company_id=samples.COMPANY)
    assert batches == []  # each went straight out as its own EVALSHA


async def test_one_failing_call_in_a_batch_fails_only_its_own_caller(bus: Bus) -> None:
    # A dedupe key of the wrong type makes that one script call fail inside the server.
    await bus.redis.hset(bus.keys.dedupe(CH, "poisoned"), "x", "1")
    events = [samples.envelope(samples.message_received(i)) for i in range(20)]
    keys = [f"ok-{i}" for i in range(20)]
    keys[7] = "poisoned"
    results = await asyncio.gather(
        *(bus.publish(e, dedupe_key=k) for e, k in zip(events, keys, strict=True)), return_exceptions=True
    )
    failed = [i for i, r in enumerate(results) if isinstance(r, BaseException)]
    assert failed == [7]
    assert isinstance(results[7], BusUnavailable) and "WRONGTYPE" in str(results[7])
    assert await bus.redis.xlen(bus.keys.stream(CH)) == 19


async def test_batched_publishes_survive_an_emptied_script_cache(bus: Bus) -> None:
    await bus.emit(samples.message_received(), company_id=samples.COMPANY)
    await bus.redis.script_flush()  # as after a server restart
    events = [samples.envelope(samples.message_received(i)) for i in range(50)]
    published = await asyncio.gather(*(bus.publish(e) for e in events))
    assert {p.event_id for p in published} == {e.id for e in events}
    assert await bus.redis.xlen(bus.keys.stream(CH)) == 51


async def test_on_a_cluster_a_publish_sent_to_a_node_that_lost_the_slot_follows_the_redirect(
    bus: Bus, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As after a resharding or a failover, before the client's slot map knows: the old node answers MOVED,
    the call goes through the cluster client instead, and is stored once, where the slot now lives."""
    if not bus.cluster:
        pytest.skip("a cluster's per-node lines")
    stream = bus.keys.stream(CH)
    owner = bus.redis.get_node_from_key(stream)
    stranger = next(n for n in bus.redis.get_primaries() if n.name != owner.name)
    monkeypatch.setattr(bus.redis, "get_node_from_key", lambda key, replica=False: stranger)
    events = [samples.envelope(samples.message_received(i)) for i in range(20)]
    published = await asyncio.gather(*(bus.publish(e) for e in events))
    assert [p.event_id for p in published] == [e.id for e in events]
    stored = [f[b"i"].decode() for _, f in await bus.redis.xrange(stream)]
    assert sorted(stored) == sorted(e.id for e in events)  # each once, on the slot's owner


async def test_a_server_that_never_answers_fails_publishes_after_the_socket_timeout_alone_or_batched() -> (
    None
):
    # The publish line's connections have no socket timeout of their own (cheaper): the same timeout bounds
    # each round trip instead. A server that accepts and then says nothing must still fail them, not hang them.
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(-1)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with Bus.from_url(f"redis://127.0.0.1:{port}", source="tests", socket_timeout=0.3) as bus:
            events = [samples.envelope(samples.message_received(i)) for i in range(5)]
            started = asyncio.get_running_loop().time()
            results = await asyncio.gather(*(bus.publish(e) for e in events), return_exceptions=True)
            waited = asyncio.get_running_loop().time() - started
    finally:
        server.close()
    assert all(isinstance(r, BusUnavailable) for r in results), results
    assert waited < 3  # the lone call's 0.3 s, then the batch's 0.3 s: never the default 10 s


async def test_publishing_goes_on_after_the_server_dropped_the_publish_lines_connection(bus: Bus) -> None:
    # As redis-py's own pipeline does, a round trip that finds its connection dropped (the server restarted,
    # a proxy timed it out) is sent once more on a new connection instead of failing its callers.
    await bus.emit(samples.message_received(1), company_id=samples.COMPANY)
    if bus.cluster:
        await bus.redis.client_kill_filter(_type="normal", skipme=True, target_nodes="all")  # type: ignore[call-arg]
    else:
        await bus.redis.client_kill_filter(_type="normal", skipme=True)
    published = await asyncio.gather(
        *(bus.emit(samples.message_received(i), company_id=samples.COMPANY) for i in range(2, 6))
    )
    assert all(not p.duplicate for p in published)
    assert await bus.redis.xlen(bus.keys.stream(CH)) == 5
