"""The agent's own Redis commands share round trips: while one is on the wire, the commands that concurrent
handlers issue queue up and leave together, in one pipeline, when it returns.

Much of the CPU a message cost was redis-py's per-command machinery (a connection checkout, a timeout, a
retry wrapper, a ``send`` system call and the server's wakeup), not the agent's thinking. Up to
``AGENT_CONCURRENCY`` handlers run at once, each reading its lead's state and committing its answer. A
command that finds the line free leaves on the next turn of the event loop, with whatever else was issued in
that turn, so batches grow with the load and vanish without it (the line is the bus's
``eventbus.batching.AutoPipeline``; its publish batching sends a lone call at once instead, here any command
waits one turn). Each caller gets
its own reply or its own error. The pipeline is not a transaction (no ``MULTI``): every command stands alone,
so on Redis Cluster the client sends each to the node that serves its slot. redis-py sends a pipeline again
after a dropped connection; every command the agent sends is safe to repeat (reads, ``SET``s of the same
value, ``SET NX GET``, and the commit, which finds its own answer stored).

Events are not published through here: publishing is the bus's (``Bus.publish``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from eventbus.batching import AutoPipeline
from eventbus.line import Command, Line
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError


class Pipeline(AutoPipeline[Command]):
    def __init__(self, redis: Redis | RedisCluster, *, max_batch: int = 128) -> None:
        super().__init__(max_batch=max_batch)
        self._redis = redis
        # One server: batches go out on a connection of their own (eventbus.line.Line), cheaper than
        # redis-py's Pipeline. A cluster's pipeline splits them by node itself.
        self._line = Line(redis) if isinstance(redis, Redis) else None

    async def aclose(self) -> None:
        if self._line is not None:
            await self._line.aclose()

    async def execute(self, *args: Any, **options: Any) -> Any:
        """Run one command; ``options`` as redis-py's ``execute_command`` takes them (for its reply parsing)."""
        future = self._enqueue((args, options))
        self._start()  # a task: it sends on the next turn of the loop, with whatever else was issued by then
        return await future

    def script(self, source: str) -> Script:
        return Script(self, source)

    async def _round_trip(self, batch: list[Command]) -> list[Any]:
        if self._line is not None:
            return await self._line.round_trip(batch)
        if len(batch) == 1:
            args, options = batch[0]
            return [await self._redis.execute_command(*args, **options)]
        pipe = self._redis.pipeline(transaction=False)
        for args, options in batch:
            pipe.execute_command(*args, **options)
        # A command's error (a script's, a wrong type) comes back in its place, for its caller alone.
        return list(await pipe.execute(raise_on_error=False))


class Script:
    """A Lua script run by ``EVALSHA`` through the pipeline; ``EVAL`` once when a server lacks it (restarted,
    flushed, a new cluster node), which also caches it there."""

    def __init__(self, pipeline: Pipeline, source: str) -> None:
        self._pipeline = pipeline
        self._source = source
        self._sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()  # Redis names scripts so

    async def __call__(self, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return await self._pipeline.execute("EVALSHA", self._sha, len(keys), *keys, *args)
        except NoScriptError:
            return await self._pipeline.execute("EVAL", self._source, len(keys), *keys, *args)

    async def many(self, calls: Sequence[tuple[Sequence[str], Sequence[Any]]]) -> list[Any]:
        """Each ``(keys, args)`` call's reply, or its error in its place; shares round trips as ``many`` does."""
        replies = await self._pipeline.many(
            [(("EVALSHA", self._sha, len(keys), *keys, *args), {}) for keys, args in calls]
        )
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            again = await self._pipeline.many(
                [(("EVAL", self._source, len(calls[i][0]), *calls[i][0], *calls[i][1]), {}) for i in missing]
            )
            for i, reply in zip(missing, again, strict=True):
                replies[i] = reply
        return replies
