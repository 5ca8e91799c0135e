"""The bus's Lua scripts, loaded once per client.

Lua rather than MULTI: the decisions (is this id processed? who holds the lease? is this entry the head of
its ordering key?) depend on values read in the same step, which a transaction cannot branch on.
redis-py's ``Script`` runs them with EVALSHA and reloads them after a server restart or ``SCRIPT FLUSH``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files

from redis.commands.core import AsyncScript

from eventbus.client import Client


def _source(name: str) -> str:
    return files("eventbus").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Scripts:
    publish: AsyncScript
    read: AsyncScript
    admit: AsyncScript
    reclaim: AsyncScript
    heartbeat: AsyncScript
    dead_letter: AsyncScript
    forget: AsyncScript

    @classmethod
    def register(cls, redis: Client) -> Scripts:
        prelude = _source("prelude")
        return cls(
            publish=redis.register_script(_source("publish")),
            read=redis.register_script(prelude + _source("read")),
            admit=redis.register_script(prelude + _source("admit")),
            reclaim=redis.register_script(prelude + _source("reclaim")),
            heartbeat=redis.register_script(_source("heartbeat")),
            dead_letter=redis.register_script(_source("dead_letter")),
            forget=redis.register_script(_source("forget")),
        )
