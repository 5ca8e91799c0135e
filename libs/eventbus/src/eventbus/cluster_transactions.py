"""WATCH/MULTI/EXEC on a Redis Cluster client, run in the caller's event loop.

redis-py 8.1's asyncio cluster client sends every command of a transaction pipeline (``pipeline(transaction=
True)``) through ``asyncio.run`` in a new thread, only to work out its slot, while the caller's loop waits in
``Thread.join``. When the client has its slot map to (re)load (fresh, or after a lost connection or a connect
timeout) that other loop loads it, with the client's locks and node connections: with the lock held by a task
of the caller's loop (two tasks reloading at once, as after a connect timeout), it failed with "Lock ... is
bound to a different event loop" (once in CI, in evolution-manager's setup under load), or waited for a lock
that the blocked loop could never release. Connections it opened belong to a loop closed right after.

Here the same steps run as coroutines of the caller's loop: a command of the transaction's WATCH phase is
awaited by its caller anyway, and a queued one (after MULTI) waits for ``execute``, which places it then.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio.cluster import ClusterPipeline, RedisCluster, TransactionStrategy
from redis.exceptions import RedisError


class InLoopTransaction(TransactionStrategy):
    """redis-py's transaction strategy without its thread: the same checks (one slot, WATCH before MULTI)."""

    def __init__(self, pipe: ClusterPipeline) -> None:
        super().__init__(pipe)
        #: commands after MULTI (or of a transaction without WATCH), placed on their slot by ``execute``
        self._queued: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        if (self._watching or args[0] in self.IMMEDIATE_EXECUTE_COMMANDS) and not self._explicit_transaction:
            return self._now(*args, **kwargs)  # the caller awaits it: WATCH, or a read while watching
        self._queued.append((args, kwargs))
        return self._pipe

    async def _now(self, *args: Any, **kwargs: Any) -> Any:
        # redis-py's own coroutine (slot map loaded first when needed, the slot checked), which hands back the
        # command's send as a coroutine of its own
        return await (await self._execute_command(*args, **kwargs))

    def multi(self) -> None:
        if self._queued:
            raise RedisError("Commands without an initial WATCH have already been issued")
        super().multi()  # type: ignore[no-untyped-call]

    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> list[Any]:
        queued, self._queued = self._queued, []
        for args, kwargs in queued:
            await self._execute_command(*args, **kwargs)  # queues it on its slot, as redis-py's thread did
        result: list[Any] = await super().execute(raise_on_error, allow_redirections)
        return result

    async def reset(self) -> None:
        self._queued = []
        await super().reset()  # type: ignore[no-untyped-call]

    def __len__(self) -> int:
        return len(self._command_queue) + len(self._queued)


class ClusterClient(RedisCluster):
    """The bus's cluster client: redis-py's, with transactions run in the caller's event loop."""

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> ClusterPipeline:
        pipe = super().pipeline(transaction, shard_hint)
        if transaction:
            pipe._execution_strategy = InLoopTransaction(pipe)
        return pipe
