"""Connections of their own for the hot paths: a consumer's read loop, and a cluster's per-node publish lines.

Why a consumer needs one: with a socket timeout, redis-py sends each command through ``asyncio.wait_for``,
which on Python 3.11 wraps the write in a new task. The write then waits for a turn of the event loop, and
every task that is ready runs first: the consumer's workers handled the whole previous batch *before* the
next read was even sent, so the consumer and Redis took turns instead of working at the same time. A lane
has no socket timeout (its caller puts an ``asyncio.timeout``, which makes no task, around each call) and
sends at once; that doubled the drain rate (docs/benchmarks.md, Event bus). Python 3.12's ``wait_for`` no
longer makes a task, and a lane costs nothing there either.

On Redis Cluster a lane is a plain client of the node that holds the channel's slot, so the same holds there.
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
    ReadOnlyError,
    RedisClusterException,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from eventbus.client import Client, hiredis_packing

#: Answers only a cluster client can follow; the command did not run (MovedError is an AskError in redis-py).
REDIRECTED = (AskError, TryAgainError, ClusterDownError, ReadOnlyError, MasterDownError)
#: The connection is gone: the command may or may not have run.
BROKEN = (RedisConnectionError, RedisTimeoutError, OSError)


def node_client(node: ClusterNode, **overrides: Any) -> Redis:
    """A plain client of one cluster node, with the cluster client's own settings for it (TLS, credentials,
    timeouts) unless ``overrides`` say otherwise."""
    return _client(node.connection_class, {**node.connection_kwargs, **overrides})


def _client(connection_class: type[Any], kwargs: dict[str, Any], *, single: bool = False) -> Redis:
    pool = ConnectionPool(
        connection_class=hiredis_packing(connection_class), max_connections=1 if single else None, **kwargs
    )
    client = Redis(connection_pool=pool, single_connection_client=single)
    client.auto_close_connection_pool = True  # closing the client closes its pool
    return client


def timeout_of(shared: Client) -> float | None:
    """The socket timeout ``shared``'s connections have: what a call over a connection without one (a lane, a
    ``batching.Line``) waits at most."""
    kwargs = (
        shared.connection_kwargs
        if isinstance(shared, RedisCluster)
        else shared.connection_pool.connection_kwargs
    )
    timeout: float | None = kwargs.get("socket_timeout")
    return timeout


def _untimed(source: ClusterNode | ConnectionPool) -> Redis:
    """One connection with ``source``'s settings (a cluster node's, or a pool's) but no socket timeout."""
    settings = {**source.connection_kwargs, "socket_timeout": None}
    return _client(source.connection_class, settings, single=True)


class Lane:
    """One connection, without socket timeout, to the server that holds ``key``; for one caller at a time."""

    def __init__(self, shared: Client, key: str) -> None:
        self.shared = shared
        self.key = key
        #: what the shared client's socket timeout was: the lane applies it around each call instead
        self.timeout = timeout_of(shared)
        self._client: Redis | None = None
        self._node: str | None = None

    async def client(self) -> Redis | None:
        """The lane's client; on a cluster, of the node the slot map names now (None: no slot map)."""
        if isinstance(self.shared, RedisCluster):
            try:
                node = self.shared.get_node_from_key(self.key)
            except RedisClusterException:
                return None
            if node is None:
                return None
            if self._client is None or node.name != self._node:
                await self.aclose()
                self._client, self._node = _untimed(node), node.name
        elif self._client is None:
            self._client = _untimed(self.shared.connection_pool)
        return self._client

    async def run(self, script: AsyncScript, keys: list[str], args: list[Any]) -> Any:
        client = await self.client()
        if client is None:
            return await script(keys=keys, args=args, client=self.shared)
        try:
            async with asyncio.timeout(self.timeout):
                return await script(keys=keys, args=args, client=client)
        except REDIRECTED:
            return await script(keys=keys, args=args, client=self.shared)
        except BROKEN:
            if isinstance(self.shared, RedisCluster):
                await self.aclose()  # the node may be gone for good: look it up again next time
            raise

    async def aclose(self) -> None:
        client, self._client, self._node = self._client, None, None
        if client is not None:
            await client.aclose()
