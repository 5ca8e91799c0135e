"""Connecting to Redis: one server (``redis://``) or a Redis Cluster (``redis+cluster://``), same bus on both."""

from __future__ import annotations

import contextlib
from typing import Any, TypeAlias

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisClusterException, RedisError

#: A client for one server or for a Redis Cluster: the bus runs on both unchanged.
Client: TypeAlias = Redis | RedisCluster

#: ``redis+cluster://host:port`` (or ``rediss+cluster://``) selects Redis Cluster; any node is a seed.
CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss", "valkey+cluster": "redis"}


def is_cluster_url(url: str) -> bool:
    return url.split("://", 1)[0].lower() in CLUSTER_SCHEMES


def connect(url: str, *, max_connections: int = 64, **options: Any) -> Client:
    """A client tuned for the bus: bytes in and out, short connect timeout, two quick retries, and a
    *blocking* pool: past ``max_connections`` a caller waits (up to 5 s) for a free connection instead of
    failing, so a burst of handlers cannot starve the consumer's own commands.

    Publishing is on a webhook's request path: failing fast (and answering 503) beats holding the sender.

    A ``redis+cluster://`` URL gives a :class:`RedisCluster` client instead (pools per node, ``max_connections``
    each). It follows MOVED/ASK and refreshes the slot map itself; its retries span a failover (a replica is
    promoted after ``cluster-node-timeout`` plus an election, ~2–3 s with 1 s), so they back off for longer.
    """
    scheme, rest = url.split("://", 1)
    if scheme.lower() in CLUSTER_SCHEMES:
        cluster_defaults: dict[str, Any] = {
            "socket_connect_timeout": 2,
            "socket_timeout": 10,
            "retry": Retry(ExponentialBackoff(cap=1.0, base=0.1), 8),
            # By default redis-py answers every fifth MOVED by closing *all* of the client's connections,
            # also those other tasks are using at that moment: during a slot migration (bursts of MOVED and
            # ASK) publishes then failed with AttributeError from inside redis-py (a connection's writer gone
            # mid-send). 0 moves the slot in the client's map on each MOVED instead; a failover is still
            # followed, through the reinitialisation redis-py does on connection errors.
            "reinitialize_steps": 0,
        }
        # redis-py's cluster client has no blocking pool: past max_connections a node's pool raises
        # MaxConnectionsError instead of waiting, so it gets headroom (4×) rather than the same cap.
        return RedisCluster.from_url(
            f"{CLUSTER_SCHEMES[scheme.lower()]}://{rest}",
            max_connections=max_connections * 4,
            **(cluster_defaults | options),
        )
    defaults: dict[str, Any] = {
        "socket_connect_timeout": 2,
        "socket_timeout": 10,
        "health_check_interval": 15,
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
        "timeout": 5,
    }
    pool = BlockingConnectionPool.from_url(url, max_connections=max_connections, **(defaults | options))
    return Redis.from_pool(pool)


async def warm(client: Client) -> None:
    """Load a cluster client's slot map now, before concurrent use. redis-py 8.1 sends commands issued before
    its first load to a random node and, after a few MOVED replies, closes every connection of the client,
    also those other tasks are using (seen killing a consumer at start-up). Best effort: an unreachable
    cluster is reported by the readiness check, not here. A no-op for one server."""
    if isinstance(client, RedisCluster):
        with contextlib.suppress(RedisError, RedisClusterException, OSError):
            await client.initialize()
