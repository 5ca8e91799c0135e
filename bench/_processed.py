"""A consumer group's processed marks as the benchmarks read them (``eventbus.idempotency``): the ids in its
time buckets (their running count) plus those in the sorted set, and the bytes of all those keys."""

from __future__ import annotations

from typing import Any

from eventbus.keys import Keys


def marks(client: Any, keys: Keys, channel: str, group: str) -> int:
    """How many event ids the group has marked processed (a sync ``redis.Redis`` or ``RedisCluster``)."""
    in_buckets = int(client.get(keys.processed_count(channel, group)) or 0)
    return in_buckets + int(client.zcard(keys.processed(channel, group)))


def memory(client: Any, keys: Keys, channel: str, group: str) -> int:
    """``MEMORY USAGE`` of every processed key of the group: the buckets, their index and count, the sorted
    set (each key's own overhead included, as ``used_memory`` would count it)."""
    index = keys.processed_index(channel, group)
    names = [name.decode() for name in client.zrange(index, 0, -1)]
    every = [keys.processed_bucket(channel, group, name) for name in names]
    every += [index, keys.processed_count(channel, group), keys.processed(channel, group)]
    return sum(int(client.memory_usage(key, samples=0) or 0) for key in every)
