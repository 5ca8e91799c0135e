"""What a Redis server actually ran, read with MONITOR: for tests that prove a service is Redis-Cluster-safe.

A cluster refuses a script or transaction whose declared keys span slots, but not a script that touches a key
it did not declare (in its own slot): this recording, on one server, sees both. One server only: MONITOR
shows one node.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from redis.asyncio import Redis
from redis.crc import key_slot
from redis.exceptions import ResponseError

_LINE = re.compile(r"^\S+ \[\d+ (?P<client>[^\]]+)\] (?P<args>.*)$")
_ARG = re.compile(r'"((?:[^"\\]|\\.)*)"')
_ESCAPED = re.compile(r"\\(x[0-9a-fA-F]{2}|.)")
_CHARS = {"n": "\n", "r": "\r", "t": "\t", "a": "\a", "b": "\b"}


def _unescape(arg: str) -> str:
    def one(match: re.Match[str]) -> str:
        code = match[1]
        return chr(int(code[1:], 16)) if len(code) == 3 else _CHARS.get(code, code)

    return _ESCAPED.sub(one, arg)


@dataclass
class Unit:
    """What the server ran as one: a command, a script with the commands it called, or a transaction from
    WATCH or MULTI to EXEC."""

    kind: str
    args: list[list[str]] = field(default_factory=list)
    inner: list[list[str]] = field(default_factory=list)  # a script's own commands


def _units(lines: list[tuple[str, list[str]]]) -> list[Unit]:
    units: list[Unit] = []
    open_transactions: dict[str, Unit] = {}
    script: Unit | None = None
    for client, args in lines:
        if client == "lua":
            assert script is not None, args
            script.inner.append(args)
            continue
        script = None
        name = args[0].upper()
        if name in ("WATCH", "MULTI") and client not in open_transactions:
            open_transactions[client] = Unit("transaction")
            units.append(open_transactions[client])
        if client in open_transactions:
            open_transactions[client].args.append(args)
            if name in ("EVAL", "EVALSHA"):  # a script queued in a transaction: its commands are the unit's
                script = open_transactions[client]
            if name in ("EXEC", "DISCARD", "UNWATCH", "RESET"):
                del open_transactions[client]
        elif name in ("EVAL", "EVALSHA"):
            script = Unit("script", [args])
            units.append(script)
        else:
            units.append(Unit("command", [args]))
    return units


async def _keys_of(redis: Redis, args: list[str], known: dict[tuple[str, ...], list[str]]) -> list[str]:
    """The keys of one command, as the server itself finds them (``COMMAND GETKEYS``)."""
    if tuple(args) not in known:
        try:
            found = await redis.command_getkeys(*args)
        except ResponseError:  # a command without keys (HELLO, SCRIPT LOAD, PING, …)
            found = []
        known[tuple(args)] = [k.decode() if isinstance(k, bytes) else k for k in found]
    return known[tuple(args)]


async def record(
    redis: Redis, run: Callable[[], Awaitable[object]]
) -> list[tuple[Unit, list[str], list[str]]]:
    """Run ``run()`` under MONITOR; every unit the server ran with its declared keys (a command's, a
    script's KEYS, a transaction's commands') and, for a script, the keys its own commands touched."""
    end = f"monitor-end:{id(run)}"
    lines: list[tuple[str, list[str]]] = []
    async with redis.monitor() as monitor:

        async def read() -> None:
            while True:
                raw = await monitor.connection.read_response()
                text = raw.decode() if isinstance(raw, bytes) else str(raw)
                match = _LINE.match(text)
                if match is None:
                    continue
                args = [_unescape(a) for a in _ARG.findall(match["args"])]
                if args == ["ECHO", end]:
                    return
                lines.append((match["client"], args))

        reading = asyncio.create_task(read())
        await run()
        await redis.echo(end)  # keyless: any node of a cluster answers it
        await asyncio.wait_for(reading, timeout=10)
    known: dict[tuple[str, ...], list[str]] = {}
    result: list[tuple[Unit, list[str], list[str]]] = []
    for unit in _units(lines):
        declared = [k for args in unit.args for k in await _keys_of(redis, args, known)]
        touched = [k for args in unit.inner for k in await _keys_of(redis, args, known)]
        result.append((unit, declared, touched))
    return result


@dataclass
class Footprint:
    """What a recording shows of the keys under one prefix (a service's own)."""

    touched: set[str] = field(default_factory=set)  #: every key under the prefix that was used
    scripts: set[str] = field(default_factory=set)  #: SHA1s of the scripts whose own commands used them
    units: Counter[str] = field(default_factory=Counter)  #: how many commands, scripts and transactions did


def footprint(recorded: list[tuple[Unit, list[str], list[str]]], prefix: str) -> Footprint:
    """Check what :func:`record` saw for Redis Cluster safety, for the units that use keys under ``prefix``:
    each one (a command, a script with what it called, a transaction) stays in one hash slot, and a script
    touches only keys it declares. Raises ``AssertionError`` naming the first unit that does not."""
    found = Footprint()
    for unit, declared, inner in recorded:
        keys = declared + inner
        if not any(k.startswith(prefix) for k in keys):
            continue
        if len({key_slot(k.encode()) for k in keys}) != 1:
            raise AssertionError(f"{unit.kind} spans slots: {unit.args} {keys}")
        if unit.kind == "script":
            if not set(inner) <= set(declared):
                raise AssertionError(f"script touches undeclared keys: {unit.args[0][:2]} {inner}")
            if inner:
                found.scripts.add(unit.args[0][1])
        found.units[unit.kind] += 1
        found.touched.update(k for k in keys if k.startswith(prefix))
    return found
