"""Write acknowledgement: a publish or a processed mark that must survive losing the primary.

Redis replicates asynchronously: a primary answers a write before any replica has it, and a failover can
promote a replica that never saw it. ``WAIT n`` (or ``WAITAOF``) blocks until n replicas (or the AOF fsync)
hold every write *this connection* made, so it must follow the write on the same connection: here both go in
one pipeline, which redis-py sends on one connection (on a cluster, to the node that serves the key).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from eventbus import metrics
from eventbus.client import Client
from eventbus.settings import BusSettings

log = structlog.get_logger("eventbus")


@dataclass(frozen=True)
class WriteAck:
    replicas: int = 0
    fsync: bool = False
    timeout_ms: int = 1000

    @classmethod
    def from_settings(cls, settings: BusSettings) -> WriteAck:
        timeout_ms = max(1, int(settings.ack_timeout.total_seconds() * 1000))
        return cls(settings.ack_replicas, settings.ack_fsync, timeout_ms)

    @property
    def enabled(self) -> bool:
        return self.replicas > 0 or self.fsync

    def command(self) -> tuple[str | int, ...]:
        if self.fsync:
            return ("WAITAOF", 1, self.replicas, self.timeout_ms)
        return ("WAIT", self.replicas, self.timeout_ms)

    def shortfall(self, reply: Any) -> str | None:
        """What the WAIT/WAITAOF reply says is missing, or None when the level was reached."""
        if self.fsync:
            local, replicas = (int(x) for x in reply)
            if local < 1 or replicas < self.replicas:
                return f"fsynced locally {local}/1, on replicas {replicas}/{self.replicas}"
            return None
        if int(reply) < self.replicas:
            return f"held by {int(reply)}/{self.replicas} replicas"
        return None


async def run_acknowledged(
    redis: Client, ack: WriteAck, script: AsyncScript, keys: list[str], args: list[Any]
) -> tuple[Any, str | None]:
    """Run ``script`` then wait for ``ack`` on the same connection. Returns the script's result and the
    shortfall (None when acknowledged). ``keys`` all live in one slot, so one node runs both."""
    for loaded in (False, True):
        try:
            if isinstance(redis, RedisCluster):
                await redis.initialize()  # no-op once the slot map is loaded; routing below needs it
                async with redis.pipeline() as pipe:
                    # redis-py refuses its evalsha() method in cluster pipelines (it cannot tell the keys of a
                    # script it has not parsed); the raw command is routed by its declared keys like any other.
                    pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
                    pipe.execute_command(*ack.command(), target_nodes=redis.get_node_from_key(keys[0]))
                    result, reply = await pipe.execute()
            else:
                async with redis.pipeline(transaction=False) as pipe_one:
                    pipe_one.evalsha(script.sha, len(keys), *keys, *args)
                    pipe_one.execute_command(*ack.command())
                    result, reply = await pipe_one.execute()
        except NoScriptError:
            # A restarted or promoted server has an empty script cache. redis-py's Script reloads by itself,
            # but it cannot be pipelined with WAIT, so reload by hand (once).
            if loaded:
                raise
            await script.registered_client.script_load(script.script)
            continue
        missing = ack.shortfall(reply)
        if missing is not None:
            metrics.ACK_SHORTFALL.inc()
        return result, missing
    raise AssertionError("unreachable")
