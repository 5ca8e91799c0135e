"""Connecting to Redis: one server (``redis://``) or a Redis Cluster (``redis+cluster://``), same bus on both."""

from __future__ import annotations

import contextlib
from typing import Any, TypeAlias

import hiredis
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import (
    ClusterDownError,
    DataError,
    MasterDownError,
    RedisClusterException,
    RedisError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from eventbus.cluster_transactions import ClusterClient
from eventbus.errors import BusUnavailable, Outage

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
        # ClusterClient: its transactions (WATCH/MULTI/EXEC) stay in the caller's event loop
        # (eventbus.cluster_transactions).
        return ClusterClient.from_url(
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
    pool.connection_class = hiredis_packing(pool.connection_class)  # no connection exists yet
    return Redis.from_pool(pool)


class _HiredisPacking:
    """Commands packed by hiredis's C ``pack_command``, as redis-py's *sync* connection already does when
    hiredis is installed; its asyncio connection packs in Python, ~3 µs per argument here, which was the
    largest single cost of a publish (14 arguments: bench/bus_throughput.py, docs/benchmarks.md). Same bytes
    on the wire; the same errors for what Redis cannot take (``DataError``, e.g. for ``None`` or a bool)."""

    def pack_command(self, *args: Any) -> list[bytes]:
        # redis-py lets a caller write a multi-word command as one string ("SCRIPT LOAD"): split it the same way.
        if isinstance(args[0], str):
            args = (*args[0].encode().split(), *args[1:])
        elif b" " in args[0]:
            args = (*args[0].split(), *args[1:])
        try:
            return [hiredis.pack_command(args)]  # bytes, str, int, float (and memoryview): all the bus sends
        except TypeError:
            pass
        try:  # a bytearray, which redis-py also takes
            return [hiredis.pack_command(tuple(bytes(a) if isinstance(a, bytearray) else a for a in args))]  # type: ignore[arg-type]
        except TypeError as exc:
            raise DataError(str(exc)) from None


_packing: dict[type[Any], type[Any]] = {}


def hiredis_packing(connection_class: type[Any]) -> type[Any]:
    """``connection_class`` (plain, TLS or Unix socket) packing its commands with hiredis."""
    if issubclass(connection_class, _HiredisPacking):
        return connection_class
    if connection_class not in _packing:
        _packing[connection_class] = type(connection_class.__name__, (_HiredisPacking, connection_class), {})
    return _packing[connection_class]


async def warm(client: Client) -> None:
    """Load a cluster client's slot map now, before concurrent use. redis-py 8.1 sends commands issued before
    its first load to a random node and, after a few MOVED replies, closes every connection of the client,
    also those other tasks are using (seen killing a consumer at start-up). Best effort: an unreachable
    cluster is reported by the readiness check, not here. A no-op for one server."""
    if isinstance(client, RedisCluster):
        with contextlib.suppress(RedisError, RedisClusterException, OSError):
            await client.initialize()


def closed_while_writing(exc: BaseException) -> bool:
    """redis-py 8.1 lets a write that races a closing connection (a node killed in a failover, a peer reset)
    escape as ``AttributeError`` or ``TypeError`` from its own connection code or asyncio's transport, not as
    ``ConnectionError`` (redis/redis-py#4287, fixed upstream by #4288). Seen once in our cluster failover
    test. Such an error is Redis being unreachable all the same; one raised anywhere else is a bug."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    module = tb.tb_frame.f_globals.get("__name__", "") if tb is not None else ""
    return isinstance(module, str) and module.startswith(("redis.", "asyncio."))


def unreachable(exc: BaseException) -> bool:
    """Does ``exc`` mean Redis cannot be reached right now (retry later), rather than a bug of ours?"""
    if isinstance(exc, RedisError | OSError):
        return True
    return isinstance(exc, AttributeError | TypeError) and closed_while_writing(exc)


#: Redis errors that say the server is away for now (down, loading its data, failing over), not that a command
#: was wrong. ``BusyLoadingError`` is a ``ConnectionError``.
_REDIS_AWAY = (RedisConnectionError, RedisTimeoutError, ClusterDownError, TryAgainError, MasterDownError)


def outage(exc: BaseException) -> bool:
    """Does a handler's ``exc`` mean a dependency is down, so the event waits without an attempt counted?

    ``Outage`` (the handler's or a library's word for it), ``BusUnavailable`` (a publish that Redis did not
    take; a retry with the same natural key publishes once) and Redis being away in the handler's own commands.
    Handlers' Redis writes are idempotent (keyed by event id), so repeating them after the outage is safe.
    An ``OSError`` is not one here: from a handler it may be anything (a file, a socket reset after a write).
    """
    return isinstance(exc, (Outage, BusUnavailable, *_REDIS_AWAY))
