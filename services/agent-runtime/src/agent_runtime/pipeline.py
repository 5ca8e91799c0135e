"""The agent's own Redis commands share round trips: while one is on the wire, the commands that concurrent
handlers issue queue up and leave together, in one pipeline, when it returns.

Much of the CPU a message cost was redis-py's per-command machinery (a connection checkout, a timeout, a
retry wrapper, a ``send`` system call and the server's wakeup), not the agent's thinking. Up to
``AGENT_CONCURRENCY`` handlers run at once, each reading its lead's state and committing its answer. A
command that finds the line free leaves on the next turn of the event loop, with whatever else was issued in
that turn, so batches grow with the load and vanish without it (the policy of the bus's publish batching,
``eventbus.batching``, here for any command). Each caller gets
its own reply or its own error. The pipeline is not a transaction (no ``MULTI``): every command stands alone,
so on Redis Cluster the client sends each to the node that serves its slot. redis-py sends a pipeline again
after a dropped connection; every command the agent sends is safe to repeat (reads, ``SET``s of the same
value, ``SET NX GET``, and the commit, which finds its own answer stored).

Events are not published through here: publishing is the bus's (``Bus.publish``).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError

_Command = tuple[tuple[Any, ...], dict[str, Any], "asyncio.Future[Any]"]


class Pipeline:
    def __init__(self, redis: Redis | RedisCluster, *, max_batch: int = 128) -> None:
        self._redis = redis
        self._max_batch = max_batch
        self._queue: list[_Command] = []
        self._drainer: asyncio.Task[None] | None = None

    async def execute(self, *args: Any, **options: Any) -> Any:
        """Run one command; ``options`` as redis-py's ``execute_command`` takes them (for its reply parsing)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append((args, options, future))
        if self._drainer is None:
            self._drainer = loop.create_task(self._drain())
        return await future

    def script(self, source: str) -> Script:
        return Script(self, source)

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
                await self._send(batch)
        finally:
            self._drainer = None

    async def _send(self, batch: list[_Command]) -> None:
        try:
            replies = await self._round_trip(batch)
        except Exception as exc:  # the round trip failed (connection lost…): every caller in it hears so
            replies = [exc] * len(batch)
        except BaseException:
            for _, _, future in batch:
                future.cancel()
            raise
        for (_, _, future), reply in zip(batch, replies, strict=True):
            if future.done():  # its caller was cancelled meanwhile
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def _round_trip(self, batch: list[_Command]) -> list[Any]:
        if len(batch) == 1:
            args, options, _ = batch[0]
            return [await self._redis.execute_command(*args, **options)]
        pipe = self._redis.pipeline(transaction=False)
        for args, options, _ in batch:
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
