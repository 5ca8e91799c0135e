"""The agent's Redis commands travel together: what concurrent handlers send in one turn of the event loop
is one round trip, and each caller still gets its own reply or its own error."""

import asyncio

import pytest
from agent_runtime.pipeline import Pipeline
from eventbus.client import connect
from redis.exceptions import ResponseError


class CountingClient:
    """The bus's client, counting round trips (a pipeline is one; a lone command is one)."""

    def __init__(self, redis):
        self.redis = redis
        self.round_trips = 0

    def pipeline(self, *, transaction):
        assert transaction is False  # not MULTI: on a cluster each command goes to its own slot's node
        self.round_trips += 1
        return self.redis.pipeline(transaction=transaction)

    async def execute_command(self, *args, **options):
        self.round_trips += 1
        return await self.redis.execute_command(*args, **options)


async def test_commands_issued_together_share_one_round_trip_and_get_their_own_replies(bus):
    client = CountingClient(bus.redis)
    pipeline = Pipeline(client)
    key = f"{{{bus.settings.prefix}:pipeline}}"  # one slot, for MGET on a cluster
    await pipeline.execute("SET", f"{key}:a", "1")
    assert client.round_trips == 1
    replies = await asyncio.gather(
        pipeline.execute("GET", f"{key}:a"),
        pipeline.execute("SET", f"{key}:b", "2"),
        pipeline.execute("MGET", f"{key}:a", f"{key}:nothing"),
        pipeline.execute("SET", f"{key}:a", "3", "NX", "GET", get=True),
        pipeline.execute("INCR", f"{key}:n"),
    )
    assert replies == [b"1", True, [b"1", None], b"1", 1]
    assert client.round_trips == 2


async def test_an_error_reaches_only_the_command_that_caused_it(bus):
    pipeline = Pipeline(bus.redis)
    key = f"{{{bus.settings.prefix}:pipeline}}"  # one slot, for MGET on a cluster
    await pipeline.execute("SET", f"{key}:text", "not a number")
    ok, failed = await asyncio.gather(
        pipeline.execute("INCR", f"{key}:counter"),
        pipeline.execute("INCR", f"{key}:text"),
        return_exceptions=True,
    )
    assert ok == 1
    assert isinstance(failed, ResponseError)
    with pytest.raises(ResponseError):
        await pipeline.execute("INCR", f"{key}:text")  # alone, too


async def test_a_script_runs_again_after_the_server_forgot_it(bus):
    pipeline = Pipeline(bus.redis)
    key = f"{bus.settings.prefix}:pipeline:script"
    script = pipeline.script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    assert await script([key], [2]) == 2
    await bus.redis.script_flush()  # a restarted server, or a cluster node that never saw it
    assert await asyncio.gather(script([key], [3]), script([key], [4])) in ([5, 9], [6, 9])
    assert await script([key], [1]) == 10


async def test_a_cancelled_caller_does_not_disturb_the_others(bus):
    pipeline = Pipeline(bus.redis)
    key = f"{bus.settings.prefix}:pipeline:cancel"
    cancelled = asyncio.ensure_future(pipeline.execute("SET", key, "x"))
    kept = asyncio.ensure_future(pipeline.execute("INCR", f"{key}:n"))
    await asyncio.sleep(0)
    cancelled.cancel()
    assert await kept == 1
    with pytest.raises(asyncio.CancelledError):
        await cancelled


async def test_a_server_that_never_answers_fails_the_commands_after_the_timeout():
    # The pipeline's connection has no socket timeout; the client's bounds each round trip instead.
    async def silent(reader, writer):
        await reader.read(-1)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    client = connect(f"redis://127.0.0.1:{server.sockets[0].getsockname()[1]}", socket_timeout=0.3)
    pipeline = Pipeline(client)
    try:
        results = await asyncio.wait_for(
            asyncio.gather(
                pipeline.execute("GET", "a"), pipeline.execute("GET", "b"), return_exceptions=True
            ),
            timeout=5,
        )
    finally:
        await pipeline.aclose()
        await client.aclose()
        server.close()
    assert all(isinstance(r, TimeoutError) for r in results), results
