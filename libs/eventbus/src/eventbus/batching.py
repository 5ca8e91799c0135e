"""Auto-pipelining: concurrent calls of one script share round trips.

A webhook server publishes from many requests at once. Each EVALSHA on its own pays a connection checkout, a
socket send and the server's wakeup: about 200 of the ~350 µs of client CPU a publish costs (profiled,
docs/benchmarks.md). Here a call that finds the line free goes at once, alone, so a lone publish waits for
nothing; calls that arrive while one is on the wire queue up and leave together in one pipeline when it
returns, so batches grow with the load and vanish without it. redis-py pipelines only what a caller builds by
hand and has no automatic pipelining for asyncio, hence this small class.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

_Call = tuple[list[str], list[Any], "asyncio.Future[Any]"]


class ScriptBatcher:
    """Runs ``script`` for concurrent callers, pipelining the calls that queue up behind one in flight.

    Each caller gets its own result or its own error, as with a direct call. A caller cancelled while queued
    may still have its call sent (as a cancelled direct call may have been): publishing is at-least-once and
    producers carry idempotency keys.
    """

    def __init__(self, redis: Redis, script: AsyncScript, *, max_batch: int = 128) -> None:
        self._redis = redis
        self._script = script
        self._max_batch = max_batch
        self._queue: list[_Call] = []
        self._busy = False
        self._drainer: asyncio.Task[None] | None = None

    async def __call__(self, keys: list[str], args: list[Any]) -> Any:
        if self._busy:
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self._queue.append((keys, args, future))
            return await future
        self._busy = True
        try:
            return await self._script(keys=keys, args=args)
        finally:
            if self._queue:
                self._drainer = asyncio.ensure_future(self._drain())  # keeps the line busy until drained
            else:
                self._busy = False

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
                await self._send(batch)
        finally:
            self._busy = False

    async def _send(self, batch: list[_Call]) -> None:
        try:
            results = await self._pipeline(batch)
        except Exception as exc:  # the connection failed: every call of the batch failed with it
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, _, future), result in zip(batch, results, strict=True):
            if future.done():
                continue  # its caller was cancelled meanwhile
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def _pipeline(self, batch: list[_Call]) -> list[Any]:
        results = await self._execute(batch)
        missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
        if missing:
            # A restarted server has an empty script cache. A NOSCRIPT call did nothing, so load the
            # script and run exactly those calls again. (Pipeline's own script support would ask
            # SCRIPT EXISTS before every batch: a round trip per batch to save one per restart.)
            await self._redis.script_load(self._script.script)
            retried = await self._execute([batch[i] for i in missing])
            for i, result in zip(missing, retried, strict=True):
                results[i] = result
        return results

    async def _execute(self, batch: list[_Call]) -> list[Any]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for keys, args, _ in batch:
                pipe.evalsha(self._script.sha, len(keys), *keys, *args)
            return list(await pipe.execute(raise_on_error=False))
