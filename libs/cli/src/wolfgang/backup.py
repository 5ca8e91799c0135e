"""``wolfgang backup export FILE`` / ``restore FILE``: the state no event can rebuild, out of Redis and back.

A lost Redis loses the streams (events are re-sent by their sources or are gone, docs/reliability.md) and
the read models (rebuilt from the streams), but API keys, the WhatsApp instance registry and the companies'
Conversions API settings exist nowhere else. These are the families below, by service.

The file is JSON Lines (docs/security.md, "Export file"): a header
``{"format": "wolfgang-backup", "version": 1, "prefix": …, "created_at": …}``, then one object per key:
``{"service", "key" (relative to the service's namespace), "type" (string|hash|set), "value", "ttl_ms"?}``.
Values are copied as stored: API keys as their SHA-256, secrets still sealed with SECRETS_KEYS (restoring
them needs that key), so the file holds nothing usable in clear; it is written owner-only all the same.
Restoring into another prefix works (keys are relative); existing keys are left alone unless ``replace``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from eventbus import Bus

from wolfgang.console import CliError, guard, out, run
from wolfgang.target import target

FORMAT, VERSION = "wolfgang-backup", 1
#: Per service, the key patterns (under ``<prefix>:svc:<service>:``) of state no event can rebuild.
FAMILIES: dict[str, tuple[str, ...]] = {
    "backoffice-api": ("auth:key:*", "auth:id:*", "auth:ids"),  # API keys, by SHA-256; id → digest
    "evolution-manager": ("*:instance", "instances", "company:*", "instance-id:*"),  # the registry
    "facebook-capi": ("company:*",),  # each company's pixel, sealed token and event names
}

app = typer.Typer(
    help="Export and restore API keys, the instance registry and CAPI settings.", no_args_is_help=True
)


async def export(bus: Bus) -> list[dict[str, Any]]:
    """Every key of :data:`FAMILIES` under ``bus``'s prefix, as the file's lines (header first)."""
    redis = bus.redis
    lines: list[dict[str, Any]] = [
        {
            "format": FORMAT,
            "version": VERSION,
            "prefix": bus.keys.prefix,
            "created_at": datetime.now(UTC).isoformat(),
        }
    ]
    for service, patterns in FAMILIES.items():
        base = bus.keys.service(service, "")
        seen: set[bytes] = set()
        for pattern in patterns:
            # SCAN, not KEYS: an operator's command must not stall the server (on a cluster, every primary)
            async for key in redis.scan_iter(match=base + pattern, count=1000):
                if key in seen:
                    continue
                seen.add(key)
                line = await _dump(bus, key)
                if line is not None:
                    lines.append({"service": service, "key": _text(key).removeprefix(base), **line})
    return lines


async def _dump(bus: Bus, key: bytes) -> dict[str, Any] | None:
    redis = bus.redis
    kind = _text(await redis.type(key))
    value: Any
    if kind == "string":
        raw = await redis.get(key)
        if raw is None:
            return None
        value = _text(raw)
    elif kind == "hash":
        value = {_text(k): _text(v) for k, v in (await redis.hgetall(key)).items()}
    elif kind == "set":
        value = sorted(_text(m) for m in await redis.smembers(key))
    else:  # gone meanwhile ("none"), or a type no family uses
        return None
    ttl = int(await redis.pttl(key))
    return {"type": kind, "value": value} | ({"ttl_ms": ttl} if ttl > 0 else {})


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def restore(bus: Bus, lines: list[dict[str, Any]], *, replace: bool = False) -> tuple[int, int]:
    """Write the keys of an export under ``bus``'s prefix; returns (written, skipped because present)."""
    written = skipped = 0
    for line in lines:
        if line.get("service") not in FAMILIES:
            raise CliError(f"not a key this command restores: {line.get('service')!r}")
        key = bus.keys.service(line["service"], "") + line["key"]
        if not replace and await bus.redis.exists(key):
            skipped += 1
            continue
        # One key per transaction: on a cluster the keys of a family are in many slots.
        async with bus.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            if line["type"] == "string":
                pipe.set(key, line["value"])
            elif line["type"] == "hash":
                pipe.hset(key, mapping=line["value"])
            elif line["type"] == "set":
                pipe.sadd(key, *line["value"])
            else:
                raise CliError(f"unknown type {line['type']!r} for {line['key']}")
            if line.get("ttl_ms"):
                pipe.pexpire(key, int(line["ttl_ms"]))
            await pipe.execute()
        written += 1
    return written, skipped


def read_file(path: Path) -> list[dict[str, Any]]:
    rows = list(_lines(path))
    if not rows or rows[0].get("format") != FORMAT or rows[0].get("version") != VERSION:
        raise CliError(f"{path} is not a {FORMAT} file, version {VERSION}")
    return rows[1:]


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for number, text in enumerate(lines, 1):
            if text.strip():
                try:
                    yield dict(json.loads(text))
                except (ValueError, TypeError):
                    raise CliError(f"{path}:{number}: not a JSON object") from None


@app.command("export")
@guard
def export_command(
    ctx: typer.Context, file: Annotated[Path, typer.Argument(help="Where to write (JSON Lines, owner-only).")]
) -> None:
    """Write API keys, the instance registry and CAPI settings to FILE."""

    async def work() -> list[dict[str, Any]]:
        async with target(ctx).bus() as bus:
            return await export(bus)

    lines = run(work())
    file.touch(mode=0o600)
    file.chmod(0o600)
    file.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    out.print(f"exported {len(lines) - 1} keys to {file}")


@app.command("restore")
@guard
def restore_command(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(help="A file written by `backup export`.", exists=True, dir_okay=False)
    ],
    replace: Annotated[bool, typer.Option(help="Overwrite keys that exist (default: keep them).")] = False,
) -> None:
    """Write FILE's keys back, under this command line's prefix."""
    lines = read_file(file)

    async def work() -> tuple[int, int]:
        async with target(ctx).bus() as bus:
            return await restore(bus, lines, replace=replace)

    written, skipped = run(work())
    out.print(f"restored {written} keys" + (f", kept {skipped} present ones" if skipped else ""))
