"""``wolfgang secrets generate-key`` / ``rotate``: the keys that seal the secrets services store in Redis.

Rotation (docs/security.md): put a new key first in ``SECRETS_KEYS`` (``new,old``) everywhere and restart —
services now seal with the new key and still open the old values — then run ``rotate`` with the same
``SECRETS_KEYS``: every sealed value (``fernet:…``, in the services' own keys) is encrypted again with the
first key, and any secret an earlier version stored in clear is sealed. Then drop the old key. Each value
is swapped only if it is still the one read (a script compares and sets), so a secret written by a
service meanwhile is never overwritten with an older one.
"""

from __future__ import annotations

import json
import os
import re
from typing import Annotated

import typer
from eventbus import Bus
from pydantic import SecretStr
from servicekit.secretbox import MARKER, MissingSecretsKey, SecretBox, SecretUnreadable, generate_key

from wolfgang.console import CliError, guard, out, run
from wolfgang.target import target

#: The services that keep sealed secrets (servicekit.secretbox) under their own keys, and where earlier
#: versions kept them in clear: evolution-manager's instance hash fields, facebook-capi's company JSON.
SEALING = {"evolution-manager": "*:instance", "facebook-capi": "company:*"}
PLAINTEXT_FIELDS = ("webhook_secret", "api_key")
_SEALED = re.compile(re.escape(MARKER) + r"[A-Za-z0-9_=-]+")
# Compare-and-set of one string or hash field: ARGV old, new[, field].
_SWAP = """
local current
if ARGV[3] then current = redis.call('HGET', KEYS[1], ARGV[3]) else current = redis.call('GET', KEYS[1]) end
if current ~= ARGV[1] then return 0 end
if ARGV[3] then redis.call('HSET', KEYS[1], ARGV[3], ARGV[2]) else redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL') end
return 1
"""

app = typer.Typer(
    help="The keys that seal stored secrets (SECRETS_KEYS): make one, rotate.", no_args_is_help=True
)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _resealed(box: SecretBox, field: str | None, value: str) -> str:
    """``value`` with every sealed secret in it sealed again by the first key, and a secret written in clear
    by a version that did not seal (the fields of :data:`PLAINTEXT`) sealed: the upgrade path."""
    if field in PLAINTEXT_FIELDS and value and not value.startswith(MARKER):
        return box.seal(value)
    if field is None and value.startswith("{") and MARKER not in value:
        data = json.loads(value)
        if isinstance(data, dict) and isinstance(data.get("access_token"), str):
            data["access_token"] = box.seal(data["access_token"])
            return json.dumps(data)
    return _SEALED.sub(lambda m: box.rotate(m.group(0)), value)


async def rotate(bus: Bus, box: SecretBox) -> int:
    """Seal every stored secret again with ``box``'s first key, and seal those still in clear; returns how
    many values changed."""
    swap = bus.redis.register_script(_SWAP)
    changed = 0
    for service, pattern in SEALING.items():
        async for key in bus.redis.scan_iter(match=bus.keys.service(service, pattern), count=1000):
            kind = _text(await bus.redis.type(key))
            values: dict[str | None, str]  # hash field → value; None for a string key
            if kind == "string":
                raw = await bus.redis.get(key)
                values = {None: _text(raw)} if raw is not None else {}
            elif kind == "hash":
                values = {_text(f): _text(v) for f, v in (await bus.redis.hgetall(key)).items()}
            else:
                continue
            for field, value in values.items():
                new = _resealed(box, field, value)
                if new != value:
                    args = [value, new, *([field] if field is not None else [])]
                    changed += int(await swap(keys=[key], args=args))
    return changed


@app.command("generate-key")
def generate_key_command() -> None:
    """Print a new Fernet key (for SECRETS_KEYS)."""
    typer.echo(generate_key())


@app.command("rotate")
@guard
def rotate_command(
    ctx: typer.Context,
    keys: Annotated[
        str | None,
        typer.Option(envvar="SECRETS_KEYS", help="new,old: the services' SECRETS_KEYS.", show_default=False),
    ] = None,
) -> None:
    """Encrypt every stored secret again with the first key of SECRETS_KEYS."""
    try:
        box = SecretBox.from_setting(SecretStr(keys or os.environ.get("SECRETS_KEYS", "")))
    except MissingSecretsKey as exc:
        raise CliError(str(exc)) from None

    async def work() -> int:
        async with target(ctx).bus() as bus:
            return await rotate(bus, box)

    try:
        changed = run(work())
    except SecretUnreadable as exc:
        raise CliError(f"{exc}: keep every key still in use in SECRETS_KEYS") from None
    out.print(f"re-sealed {changed} stored secrets with the first key")
