"""``backoffice-api keys``: create (the key is shown once), revoke and list backoffice-api's API keys.

Reads ``REDIS_URL`` and ``BUS_PREFIX`` like the service does, so it works wherever the service does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, TypeVar

import eventbus
import typer
from rich.console import Console
from rich.table import Table

from backoffice_api.apikeys import SCOPES, ApiKey, ApiKeys, UnknownScope
from backoffice_api.keyspace import Keyspace
from backoffice_api.settings import Settings

app = typer.Typer(help="API keys of backoffice-api (stored as SHA-256 hashes only).", no_args_is_help=True)
console = Console()
T = TypeVar("T")


#: What one company's operator may do: every scope but the platform-wide view of all companies.
COMPANY_SCOPES = frozenset(SCOPES) - {"platform:admin"}


async def _with_keys(redis_url: str, keys: eventbus.Keys, work: Callable[[ApiKeys], Awaitable[T]]) -> T:
    redis = eventbus.connect(redis_url, decode_responses=True)
    try:
        return await work(ApiKeys(redis, Keyspace(keys)))
    finally:
        await redis.aclose()


def _run(work: Callable[[ApiKeys], Awaitable[T]]) -> T:
    settings = Settings()
    keys = eventbus.Keys(settings.bus_prefix, settings.bus_live_prefix)
    return asyncio.run(_with_keys(settings.redis_url, keys, work))


async def create_operator_key(
    redis_url: str, keys: eventbus.Keys, *, company_id: str, name: str
) -> tuple[str, ApiKey]:
    """A key for one company's operator (``COMPANY_SCOPES``), as ``keys create`` stores it; returns the key in
    clear (shown once) and its record. ``wolfgang setup`` creates a company's first key with it."""
    return await _with_keys(
        redis_url,
        keys,
        lambda store: store.create(company_id=company_id, scopes=set(COMPANY_SCOPES), name=name),
    )


@app.command()
def create(
    company: Annotated[str, typer.Option(help="The company the key acts for (cmp_…)")],
    scope: Annotated[list[str], typer.Option(help=f"Repeat for each scope: {', '.join(SCOPES)}")],
    name: Annotated[str, typer.Option(help="What the key is for")] = "",
    expires_in_days: Annotated[int | None, typer.Option(min=1, help="Expire after this many days")] = None,
    rate_per_minute: Annotated[
        int | None, typer.Option(min=1, help="Requests per minute (default 100)")
    ] = None,
    burst: Annotated[int | None, typer.Option(min=1, help="Burst size (default 20)")] = None,
) -> None:
    """Create a key. It is printed once and stored nowhere: copy it now."""
    expires = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None

    async def work(keys: ApiKeys) -> tuple[str, str]:
        secret, record = await keys.create(
            company_id=company,
            scopes=set(scope),
            name=name,
            expires_at=expires,
            rate_per_minute=rate_per_minute,
            burst=burst,
        )
        return secret, record.key_id

    try:
        secret, key_id = _run(work)
    except UnknownScope as exc:
        raise typer.BadParameter(str(exc), param_hint="--scope") from None
    console.print(f"key id: [bold]{key_id}[/bold]")
    console.print("API key (shown once, store it now):")
    typer.echo(secret)


@app.command()
def revoke(key_id: Annotated[str, typer.Argument(help="The key id (key_…) from `list`")]) -> None:
    """Revoke a key: it answers 403 from now on."""
    record = _run(lambda keys: keys.revoke(key_id))
    if record is None:
        console.print(f"[red]no key {key_id}[/red]")
        raise typer.Exit(1)
    console.print(f"revoked {key_id} at {record.revoked_at:%Y-%m-%d %H:%M:%S}Z")


@app.command("list")
def list_keys(company: Annotated[str | None, typer.Option(help="Only this company's keys")] = None) -> None:
    """List keys (never the keys themselves: only their ids and what they may do)."""
    records = _run(lambda keys: keys.all(company_id=company))
    table = Table("key id", "company", "name", "scopes", "expires", "revoked", "rate/min", "burst")
    for r in records:
        table.add_row(
            r.key_id,
            r.company_id,
            r.name,
            " ".join(sorted(r.scopes)),
            f"{r.expires_at:%Y-%m-%d}" if r.expires_at else "-",
            f"{r.revoked_at:%Y-%m-%d}" if r.revoked_at else "-",
            str(r.rate_per_minute or "default"),
            str(r.burst or "default"),
        )
    console.print(table)
