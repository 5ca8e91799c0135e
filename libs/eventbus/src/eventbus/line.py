"""A line: one connection that whole round trips of commands are written to, with one timeout around each.

The auto-pipelines (``eventbus.batching``), a consumer's lanes (``eventbus.lanes``) and agent-runtime's command
pipeline send on lines. redis-py has no cheaper way to send a batch and read the replies back on asyncio.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from eventbus.client import Client, hiredis_packing


def timeout_of(shared: Client) -> float | None:
    """The socket timeout ``shared``'s connections have: what a call over a connection without one (a lane, a
    line) waits at most."""
    kwargs = (
        shared.connection_kwargs
        if isinstance(shared, RedisCluster)
        else shared.connection_pool.connection_kwargs
    )
    timeout: float | None = kwargs.get("socket_timeout")
    return timeout


#: A command for :class:`Line`: its arguments, and options for redis-py's reply parsing (``execute_command``'s).
Command = tuple[Sequence[Any], dict[str, Any]]


class Line:
    """One connection that round trips are written to whole (an auto-pipeline's batches, a consumer lane's
    calls): every command of a round trip in one write, the replies read back in order, one
    ``asyncio.timeout`` around it all.

    redis-py's ``Pipeline`` does the same with more around it: a pipeline object, a pool checkout with a
    liveness probe of the socket, a retry wrapper, a timer per reply when the connection has a socket timeout.
    That cost ~210 µs of CPU per round trip of two commands here against ~120 µs for this (bench notes in
    docs/benchmarks.md), and a message of agent-runtime makes two or three round trips. Only one round trip
    is on a line at a time: :class:`~eventbus.batching.AutoPipeline` drains so, and a lane's calls take
    turns. The connection has ``client``'s settings but no socket timeout (on Python 3.11 redis-py makes a
    task per send for one): ``client``'s socket timeout bounds each round trip as a whole instead.

    Like redis-py's pipeline, a round trip that finds the connection dropped (a restarted server, say) is sent
    once more on a new one, unless the caller says ``resend=False``; commands resent must be safe to repeat. A
    command's error reply comes back in its place; any other failure leaves the connection closed (its
    replies are unknown) and is raised.
    """

    def __init__(self, client: Redis) -> None:
        self._client = client  # for its reply parsing (response callbacks)
        #: the most a round trip waits: ``client``'s socket timeout
        self.timeout = timeout_of(client)
        pool = client.connection_pool
        settings = {**pool.connection_kwargs, "socket_timeout": None}
        self.connection: Connection = hiredis_packing(pool.connection_class)(**settings)

    async def aclose(self) -> None:
        await self.connection.disconnect()

    async def round_trip(
        self, commands: Sequence[Command], *, resend: bool = True, longer_by: float = 0.0
    ) -> list[Any]:
        """The replies to ``commands``, in order. ``longer_by``: seconds a blocking command may wait on the
        server, on top of the timeout."""
        try:
            return await self._once(commands, longer_by)
        except RedisConnectionError:
            if not resend:
                raise
            return await self._once(commands, longer_by)

    async def _once(self, commands: Sequence[Command], longer_by: float) -> list[Any]:
        connection = self.connection
        timeout = None if self.timeout is None else self.timeout + longer_by
        async with asyncio.timeout(timeout):  # connecting (and its handshake) counts too
            try:
                packed = connection.pack_commands([args for args, _ in commands])
                await connection.send_packed_command(packed, check_health=False)
                replies: list[Any] = []
                for args, options in commands:
                    try:
                        replies.append(await self._client.parse_response(connection, args[0], **options))
                    except ResponseError as exc:
                        replies.append(exc)
                return replies
            except BaseException:
                await connection.disconnect(nowait=True)  # the next round trip connects afresh
                raise
