"""WATCH/MULTI/EXEC through the bus's cluster client (``eventbus.client.connect``), which the services use for
their read-check-write registrations (evolution-manager's registry, facebook-capi's deliveries, the DLQ).

redis-py 8.1 sends each command of a cluster transaction through ``asyncio.run`` in a thread of its own, and
that loop loads the slot map when the client has to (a fresh client, or one that lost a connection): with the
client's lock held by a task of the caller's loop, that failed with "Lock ... is bound to a different event
loop" (seen once in CI, in evolution-manager's setup after a connect timeout), or waited forever."""

import asyncio

from eventbus.client import connect
from eventbus.server import LocalCluster
from ulid import ULID


async def test_a_transaction_while_other_tasks_load_the_slot_map_runs_in_the_callers_event_loop(
    redis_cluster: LocalCluster,
) -> None:
    key = f"t{ULID()}:instance"
    client = connect(redis_cluster.url)
    try:
        # Two tasks load the slot map at once, as after a connect timeout: the second waits for the first.
        loading = [asyncio.create_task(client.initialize()) for _ in range(2)]
        await asyncio.sleep(0)
        pipe = client.pipeline(transaction=True)
        try:
            await pipe.watch(key)
            assert await pipe.get(key) is None
            pipe.multi()
            pipe.set(key, "registered")
            pipe.expire(key, 60)
            assert len(pipe) == 2
            assert await pipe.execute() == [True, True]
        finally:
            await pipe.reset()
        await asyncio.gather(*loading)
        assert await client.get(key) == b"registered"
    finally:
        await client.aclose()


async def test_a_transaction_without_watch_queues_its_commands_and_runs_them_on_their_slot(
    redis_cluster: LocalCluster,
) -> None:
    key = f"t{ULID()}:counter"
    client = connect(redis_cluster.url)
    try:
        async with client.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.incr(key)
            assert await pipe.execute() == [1, 2]
    finally:
        await client.aclose()
