"""`python -m backoffice_api` / `backoffice-api`: serve (settings from the environment, JSON logs, uvicorn);
`… rebuild` rebuilds the read models; `… keys` manages API keys."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import servicekit
import typer
from eventbus import Bus

from backoffice_api import SERVICE, keys_cli
from backoffice_api.app import create_app
from backoffice_api.rebuild import rebuild
from backoffice_api.settings import Settings

cli = typer.Typer(help="backoffice-api: the operators' API.", invoke_without_command=True)
cli.add_typer(keys_cli.app, name="keys")


@cli.callback()
def main(ctx: typer.Context) -> None:
    """Serve the API (the default)."""
    if ctx.invoked_subcommand is None:
        settings = Settings()
        servicekit.serve(create_app(settings), settings, service=SERVICE)


@cli.command("rebuild")
def rebuild_command() -> None:
    """Clear the read models and replay the retained streams into them."""
    settings = Settings()

    async def run() -> None:
        async with Bus.from_url(settings.redis_url, source=SERVICE, settings=settings.bus_settings()) as bus:
            grace = timedelta(seconds=2 * settings.consumer_block_seconds + 1)
            done = await rebuild(bus, grace=grace)
        typer.echo(f"deleted {done.deleted_keys} read-model keys; replaying {', '.join(done.channels)}")

    asyncio.run(run())


if __name__ == "__main__":
    cli()
