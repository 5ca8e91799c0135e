"""Auto-pipelining: concurrent calls of one script share round trips, on one server or per node of a cluster.

A webhook server publishes from many requests at once. Each EVALSHA on its own pays a connection checkout, a
socket send and the server's wakeup: about 200 of the ~350 µs of client CPU a publish costs (profiled,
docs/benchmarks.md). Here a call that finds the line free goes at once, alone, so a lone publish waits for
nothing; calls that arrive while one is on the wire queue up and leave together in one pipeline when it
returns, so batches grow with the load and vanish without it. redis-py pipelines only what a caller builds by
hand and has no automatic pipelining for asyncio, hence these small classes; :class:`AutoPipeline` is the line
they share (agent-runtime pipelines its own commands on it too).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisClusterException

from eventbus.lanes import BROKEN, REDIRECTED, node_client
from eventbus.line import Line

T = TypeVar("T")


class AutoPipeline(Generic[T]):
    """The queue behind auto-pipelining: calls (``T``: what to send) wait in line, leave together in one round
    trip of up to ``max_batch``, and each caller gets its own reply or its own error. Subclasses decide when a
    call joins the line (:meth:`_enqueue`, then :meth:`_start`) and how a batch goes out (:meth:`_round_trip`,
    which puts a command's error in that command's place)."""

    def __init__(self, *, max_batch: int = 128) -> None:
        self._max_batch = max_batch
        self._queue: list[tuple[T, asyncio.Future[Any]]] = []
        self._drainer: asyncio.Task[None] | None = None

    def _enqueue(self, call: T) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((call, future))
        return future

    async def many(self, calls: list[T]) -> list[Any]:
        """Send every call (with whatever else is queued), without a task or a wait per call: each one's reply,
        or its error in its place, in order."""
        futures = [self._enqueue(call) for call in calls]
        self._start()
        return settled(await asyncio.gather(*futures, return_exceptions=True))

    def _start(self) -> None:
        """Drain the line in a task of its own, unless one is draining it already."""
        if self._drainer is None and self._queue:
            self._drainer = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
                await self._send(batch)
        finally:
            self._drainer = None

    async def _send(self, batch: list[tuple[T, asyncio.Future[Any]]]) -> None:
        try:
            replies = await self._round_trip([call for call, _ in batch])
        except Exception as exc:  # the round trip failed (connection lost…): every caller in it hears so
            replies = [exc] * len(batch)
        except BaseException:
            for _, future in batch:
                future.cancel()
            raise
        for (_, future), reply in zip(batch, replies, strict=True):
            if future.done():
                continue  # its caller was cancelled meanwhile
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def _round_trip(self, batch: list[T]) -> list[Any]:
        raise NotImplementedError


_Call = tuple[list[str], list[Any]]  # a script call's keys and arguments


def settled(replies: list[Any]) -> list[Any]:
    """The replies of a line's queued calls as their callers see them: a call whose round trip was cancelled
    (the line closed under it) is a connection error, which callers treat as Redis being away, not a bug."""
    return [
        RedisConnectionError("the round trip was cancelled")
        if isinstance(reply, BaseException) and not isinstance(reply, Exception)
        else reply
        for reply in replies
    ]


class ScriptBatcher(AutoPipeline[_Call]):
    """Runs ``script`` for concurrent callers, pipelining the calls that queue up behind one in flight.

    Each caller gets its own result or its own error, as with a direct call. A caller cancelled while queued
    may still have its call sent (as a cancelled direct call may have been): publishing is at-least-once and
    producers carry idempotency keys.
    """

    def __init__(self, redis: Redis, script: AsyncScript, *, max_batch: int = 128) -> None:
        super().__init__(max_batch=max_batch)
        self._redis = redis
        self._script = script
        self._line = Line(redis)
        self._alone = False  # a call is on the wire by itself

    async def aclose(self) -> None:
        await self._line.aclose()

    async def __call__(self, keys: list[str], args: list[Any]) -> Any:
        if self._alone or self._drainer is not None:
            return await self._enqueue((keys, args))
        self._alone = True
        try:
            [reply] = await self._scripted([(keys, args)], self._evalsha)
        finally:
            self._alone = False
            self._start()  # what queued up behind it leaves now, together
        if isinstance(reply, Exception):
            raise reply
        return reply

    def _start(self) -> None:
        if not self._alone:  # else the lone call on the wire starts the drain when it returns
            super()._start()

    async def _round_trip(self, batch: list[_Call]) -> list[Any]:
        return await self._scripted(batch, self._execute)

    async def _scripted(
        self, batch: list[_Call], send: Callable[[list[_Call]], Awaitable[list[Any]]]
    ) -> list[Any]:
        results = await send(batch)
        missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
        if missing:
            # A restarted server has an empty script cache. A NOSCRIPT call did nothing, so load the
            # script and run exactly those calls again. (Pipeline's own script support would ask
            # SCRIPT EXISTS before every batch: a round trip per batch to save one per restart.)
            await self._redis.script_load(self._script.script)
            retried = await send([batch[i] for i in missing])
            for i, result in zip(missing, retried, strict=True):
                results[i] = result
        return results

    async def _execute(self, batch: list[_Call]) -> list[Any]:
        """A batch of calls in one round trip (a lone call goes through :meth:`_evalsha`, the same way)."""
        return await self._evalsha(batch)

    async def _evalsha(self, batch: list[_Call]) -> list[Any]:
        sha = self._script.sha
        return await self._line.round_trip(
            [(("EVALSHA", sha, len(keys), *keys, *args), {}) for keys, args in batch]
        )


class NodeBatchers:
    """:class:`ScriptBatcher` for Redis Cluster: one line per node, so that concurrent calls whose keys live on
    the same node share round trips as they do on one server.

    redis-py's cluster client sends each command on its own (its cluster pipeline costs more per command in
    Python than the round trips it saves: tried, docs/bench/bus-cluster.md). Here each node gets a plain
    client built from the cluster's own connection settings for that node (TLS, credentials, timeouts), and
    a call goes to the node that the cluster client's slot map names for its first key (all of a call's keys
    share one slot). Whatever a node answers that only a cluster client can follow (MOVED or ASK after a slot
    moved, TRYAGAIN mid-migration, CLUSTERDOWN, READONLY from a demoted primary) or a broken connection sends
    that call through the cluster client instead, which follows redirects, refreshes its slot map and rides
    out failovers; the next calls then find the right node. A redirected call did not run; a call whose
    connection broke may have run and run again (publishing is at-least-once; producers' dedupe keys make it
    once), exactly as with the cluster client's own retries.
    """

    def __init__(self, cluster: RedisCluster, script: AsyncScript, *, max_batch: int = 128) -> None:
        self._cluster = cluster
        self._script = script
        self._max_batch = max_batch
        self._lines: dict[str, tuple[Redis, ScriptBatcher]] = {}
        self._retired: list[
            tuple[Redis, ScriptBatcher]
        ] = []  # closed with the rest: calls may still be queued

    async def __call__(self, keys: list[str], args: list[Any]) -> Any:
        try:
            node = self._cluster.get_node_from_key(keys[0])
        except RedisClusterException:  # no slot map (yet, or the cluster is down): the cluster client copes
            node = None
        if node is None:
            return await self._script(keys=keys, args=args, client=self._cluster)
        line = self._lines.get(node.name)
        if line is None:
            client = node_client(node)
            line = (client, ScriptBatcher(client, self._script, max_batch=self._max_batch))
            self._lines[node.name] = line
        try:
            return await line[1](keys, args)
        except REDIRECTED:
            pass  # the node is fine, the slot is elsewhere: the cluster client follows and updates its map
        except BROKEN:
            if self._lines.get(node.name) is line:
                del self._lines[node.name]
                self._retired.append(line)
        return await self._script(keys=keys, args=args, client=self._cluster)

    async def aclose(self) -> None:
        lines = [*self._lines.values(), *self._retired]
        self._lines, self._retired = {}, []
        for client, batcher in lines:
            await batcher.aclose()
            await client.aclose()
