"""Connections of their own for the hot paths: a consumer's read loop, and a cluster's per-node publish lines.

Why a consumer needs one: with a socket timeout, redis-py sends each command through ``asyncio.wait_for``,
which on Python 3.11 wraps the write in a new task. The write then waits for a turn of the event loop, and
every task that is ready runs first: the consumer's workers handled the whole previous batch *before* the
next read was even sent, so the consumer and Redis took turns instead of working at the same time. A lane
is a line (``eventbus.line``): no socket timeout (one ``asyncio.timeout``, which makes no task, around each
call), and it sends at once; that doubled the drain rate (docs/benchmarks.md, Event bus). Python 3.12's
``wait_for`` no longer makes a task, but the line's leaner write and read still pay.

On Redis Cluster a lane is a line to the node that holds the channel's slot, so the same holds there.
What only a cluster client can follow (MOVED, ASK, TRYAGAIN mid-migration, CLUSTERDOWN, READONLY from a demoted
primary) is sent again through the cluster client, which follows it and refreshes its slot map; the next call
then finds the new node. Such an answer means the script did not run, so sending it again is safe.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import (
    AskError,
    ClusterDownError,
    MasterDownError,
    NoScriptError,
    ReadOnlyError,
    RedisClusterException,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from eventbus.client import Client, hiredis_packing
from eventbus.line import Command, Line

#: Answers only a cluster client can follow; the command did not run (MovedError is an AskError in redis-py).
REDIRECTED = (AskError, TryAgainError, ClusterDownError, ReadOnlyError, MasterDownError)
#: The connection is gone: the command may or may not have run.
BROKEN = (RedisConnectionError, RedisTimeoutError, OSError)


def node_client(node: ClusterNode) -> Redis:
    """A plain client of one cluster node, with the cluster client's own settings for it (TLS, credentials,
    timeouts)."""
    pool = ConnectionPool(connection_class=hiredis_packing(node.connection_class), **node.connection_kwargs)
    client = Redis(connection_pool=pool)
    client.auto_close_connection_pool = True  # closing the client closes its pool
    return client


class Lane:
    """One connection, without socket timeout, to the server that holds ``key``; calls take turns on it.

    Calls go out on a :class:`~eventbus.line.Line`: redis-py's own script call (a pool checkout, a retry
    wrapper, its reply machinery) cost a lone consumer ~75 µs more CPU per message than the line's write
    and read (docs/benchmarks.md, Event bus). A lane never sends a call twice by itself: a consumer's read
    that may have run must not be read again blindly (its entries would sit pending until reclaimed), so a
    broken connection is raised and the consumer's loop reads its own pending entries again."""

    def __init__(self, shared: Client, key: str) -> None:
        self.shared = shared
        self.key = key
        self._line: Line | None = None
        self._node: str | None = None
        # A line carries one round trip at a time, and a consumer's flush of acknowledgements may still be on
        # the wire when its loop reads again.
        self._turn = asyncio.Lock()

    async def line(self) -> Line | None:
        """The lane's line; on a cluster, to the node the slot map names now (None: no slot map)."""
        if isinstance(self.shared, RedisCluster):
            try:
                node = self.shared.get_node_from_key(self.key)
            except RedisClusterException:
                return None
            if node is None:
                return None
            if self._line is None or node.name != self._node:
                await self.aclose()
                # the cluster's settings for that node (TLS, credentials, its socket timeout for the line's)
                self._line, self._node = Line(node_client(node)), node.name
        elif self._line is None:
            self._line = Line(self.shared)
        return self._line

    async def run(self, script: AsyncScript, keys: list[str], args: list[Any]) -> Any:
        reply = await self.send(script, keys, args)
        if isinstance(reply, REDIRECTED):
            return await script(keys=keys, args=args, client=self.shared)
        if isinstance(reply, Exception):
            raise reply
        return reply

    async def send(
        self, script: AsyncScript, keys: list[str], args: list[Any], *before: Command, longer_by: float = 0.0
    ) -> Any:
        """``script``'s reply on the lane's line (an error in its place), after ``before``'s, whose replies are
        dropped; ``EVAL`` once when the server lacks the script (restarted, flushed), which also caches it
        there. Without a slot map (a cluster) the reply is a ``ClusterDownError``: nothing was sent."""
        call: Command = (("EVALSHA", script.sha, len(keys), *keys, *args), {})
        async with self._turn:
            line = await self.line()
            if line is None:
                return ClusterDownError("no slot map to find the node of the lane's key")
            try:
                *_, reply = await line.round_trip([*before, call], resend=False, longer_by=longer_by)
                if isinstance(reply, NoScriptError) and not before:
                    [reply] = await line.round_trip(
                        [(("EVAL", script.script, len(keys), *keys, *args), {})], resend=False
                    )
            except BROKEN:
                if isinstance(self.shared, RedisCluster):
                    await self.aclose()  # the node may be gone for good: look it up again next time
                raise
        return reply

    async def aclose(self) -> None:
        line, self._line, self._node = self._line, None, None
        if line is not None:
            await line.aclose()
