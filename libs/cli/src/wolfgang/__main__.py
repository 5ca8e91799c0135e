"""``wolfgang``: the command line of the Wolfgang Backoffice (typer + rich).

Global options come before the command: ``wolfgang --redis-url URL --prefix P consumers``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import httpx
import structlog
import typer

from wolfgang import (
    acl,
    backup,
    contracts,
    credentials,
    dlq,
    events,
    keys,
    onboarding,
    outcomes,
    secrets,
    session,
    system,
)
from wolfgang import consumers as consumers_module
from wolfgang import tail as tail_module
from wolfgang.console import EXPECTED, CliError, describe, err, guard, out, print_json, run
from wolfgang.datadir import DATA_DIR_VARIABLE, default_data_dir
from wolfgang.demo import Demo, Outcome
from wolfgang.keys import AdminToken
from wolfgang.target import DEFAULT_REDIS_URL, resolve, target

app = typer.Typer(
    name="wolfgang",
    help="Run the Wolfgang Backoffice locally and operate its event bus.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def options(
    ctx: typer.Context,
    redis_url: Annotated[
        str | None,
        typer.Option(
            envvar="REDIS_URL",
            help="Redis to use [default: the running system's (`make run`, found in $WOLFGANG_DATA_DIR or "
            f".data), else {DEFAULT_REDIS_URL}; `up` starts its own when unset].",
            show_default=False,
        ),
    ] = None,
    prefix: Annotated[
        str | None,
        typer.Option(
            envvar="BUS_PREFIX", help="Key prefix of the bus [default: the running system's, or wb]."
        ),
    ] = None,
    live_prefix: Annotated[
        str | None, typer.Option(envvar="BUS_LIVE_PREFIX", help="Prefix of the live Pub/Sub channels.")
    ] = None,
) -> None:
    ctx.obj = resolve(redis_url or None, prefix, live_prefix, default_data_dir())


@app.command()
@guard
def up(
    ctx: typer.Context,
    demo: Annotated[
        bool, typer.Option("--demo/--no-demo", help="Play the end-to-end demo once started.")
    ] = True,
    follow: Annotated[bool, typer.Option("--tail/--no-tail", help="Show the live bus once started.")] = True,
    exit_after_demo: Annotated[
        bool, typer.Option("--exit-after-demo", help="Stop everything after the demo; exit 1 if it failed.")
    ] = False,
    port: Annotated[
        list[str] | None,
        typer.Option(
            "--port", metavar="NAME=PORT", help="Override one port (repeatable), e.g. agent-runtime=9002."
        ),
    ] = None,
    port_offset: Annotated[
        int, typer.Option(envvar="WOLFGANG_PORT_OFFSET", help="Add this to every default port.")
    ] = 0,
    service: Annotated[
        list[str] | None,
        typer.Option("--service", help="Run only these services (repeatable); no demo then."),
    ] = None,
    data_dir: Annotated[
        Path,
        typer.Option(
            envvar=DATA_DIR_VARIABLE, help="Redis data (AOF), logs and the demo's key; one system each."
        ),
    ] = Path(".data"),
    redis_port: Annotated[
        int | None, typer.Option(help="Port of the embedded Redis [default: 6390, or a free one].")
    ] = None,
) -> None:
    """Start everything: Redis (embedded when REDIS_URL is unset, AOF in .data/), the fakes, the five services,
    the demo; then tail the bus until Ctrl-C, which stops everything cleanly. What `make run` calls.

    Ports: backoffice-api 8000, evolution-manager 8001, agent-runtime 8002, facebook-capi 8003,
    autentique-service 8004, fake-evolution 8080, fake-autentique 8081, fake-graph 8082; override with
    `--port NAME=PORT`, the service's own `<PREFIX>_PORT` (BACKOFFICE_PORT, EVOLUTION_PORT, AGENT_PORT,
    CAPI_PORT, AUTENTIQUE_PORT, FAKE_EVOLUTION_PORT, FAKE_AUTENTIQUE_PORT, FAKE_GRAPH_PORT) or `--port-offset`.

    Every service runs with WOLFGANG_ENV=development and one random credential per caller → callee pair, kept
    in `<data dir>/credentials.json` (delete it for new ones; docs/security.md).
    """
    names = tuple(service or system.SERVICE_NAMES)
    for name in names:
        if system.member(name).kind != "service":
            raise CliError(f"--service takes a service name: {', '.join(system.SERVICE_NAMES)}")
    system.require_installed(names)
    ports = system.resolve_ports(os.environ, port or (), offset=port_offset)
    options_ = session.UpOptions(
        services=names,
        demo=demo,
        tail=follow,
        exit_after_demo=exit_after_demo,
        data_dir=data_dir,
        redis_port=redis_port,
    )
    code = run(session.up(target(ctx), ports, options_))
    raise typer.Exit(code)


@app.command("run")
@guard
def run_service(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="SERVICE", help=", ".join(system.SERVICE_NAMES))],
    show_env: Annotated[
        bool, typer.Option("--env", help="Print the environment it would get, and exit.")
    ] = False,
) -> None:
    """Run one service alone in the foreground against REDIS_URL, with the local fakes' URLs (start them with
    `python -m fakes NAME` or `wolfgang up`). Ctrl-C stops it."""
    m = system.member(name)
    if m.kind != "service":
        raise CliError(f"{name} is not a service; services: {', '.join(system.SERVICE_NAMES)}")
    system.require_installed([name])
    t = target(ctx)
    local = system.System(
        t.url,
        t.prefix,
        t.live_prefix,
        system.resolve_ports(os.environ),
        log_json=False,
        credentials=credentials.load_or_create(default_data_dir()),  # those `wolfgang up` gave the others
        # the key `up` sealed the stored secrets with, if it ran here; else the caller's SECRETS_KEYS
        secrets_keys=acl.secrets_keys(default_data_dir(), create=False),
    )
    env = local.environment(name)
    # The caller's own settings win over the local defaults: that is how a developer points it elsewhere.
    env = env | {k: v for k, v in os.environ.items() if k in env and k not in ("REDIS_URL", "BUS_PREFIX")}
    if show_env:
        for key, value in sorted(env.items()):
            out.print(f"{key}={value}")
        return
    command = local.command(name)
    os.execvpe(command[0], command, os.environ | env)  # noqa: S606 - the service takes this process's place


@app.command()
@guard
def demo(
    ctx: typer.Context,
    data_dir: Annotated[
        Path, typer.Option(envvar=DATA_DIR_VARIABLE, help="Where the demo keeps its API key.")
    ] = Path(".data"),
    port_offset: Annotated[int, typer.Option(envvar="WOLFGANG_PORT_OFFSET")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
) -> None:
    """Play the end-to-end demo against a system that is already running (`wolfgang up --no-demo`)."""
    t = target(ctx)
    local = system.System(
        t.url,
        t.prefix,
        t.live_prefix,
        system.resolve_ports(os.environ, offset=port_offset),
        credentials=credentials.load_or_create(data_dir),  # those `wolfgang up` gave the running system
    )

    async def work() -> Outcome:
        async with t.bus() as bus, httpx.AsyncClient(timeout=15.0) as http:
            player = Demo(local, bus, http, state=data_dir / "demo.json", report=_silent if as_json else _say)
            return await player.play(await player.seed())

    outcome = run(work())
    if as_json:
        print_json(dataclasses.asdict(outcome))
    else:
        out.print(f"[bold green]demo finished[/] in {outcome.seconds:.1f}s")


@app.command()
@guard
def setup(
    ctx: typer.Context,
    instance_api_key: Annotated[
        str,
        typer.Option(
            envvar="WOLFGANG_INSTANCE_API_KEY",
            help="The instance's own Evolution token (its hash, in Evolution's manager): evolution-manager "
            "verifies it with Evolution before the instance is registered to the company.",
        ),
    ],
    instance: Annotated[
        str, typer.Option(help="The WhatsApp instance's name, as it is called in Evolution.")
    ] = "vendas-01",
    public_url: Annotated[
        str,
        typer.Option(
            envvar="WOLFGANG_PUBLIC_URL",
            help="Where Evolution reaches evolution-manager: its public HTTPS address (docs/deploy.md).",
        ),
    ] = "http://127.0.0.1:8001",
    backoffice_url: Annotated[
        str, typer.Option(envvar="BACKOFFICE_URL", help="backoffice-api, where the instance is registered.")
    ] = "http://127.0.0.1:8000",
    company: Annotated[
        str | None, typer.Option(help="An existing company (cmp_…) [default: a new one].")
    ] = None,
    jwt: Annotated[
        bool, typer.Option("--jwt", help="Evolution signs a JWT with the secret instead of sending it.")
    ] = False,
    admin_token: AdminToken = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
) -> None:
    """Create a company, its operator's API key and a WhatsApp instance, and print what to paste into
    Evolution: the webhook URL, the events and the secret. The key and the secret are shown once."""
    token = keys.admin_token(admin_token)

    async def work() -> onboarding.Onboarded:
        async with httpx.AsyncClient(timeout=15.0) as http:
            return await onboarding.onboard(
                http,
                admin_token=token,
                backoffice_url=backoffice_url,
                public_url=public_url,
                instance=instance,
                company_id=company,
                instance_api_key=instance_api_key,
                jwt=jwt,
            )

    done = run(work())
    if as_json:
        print_json(dataclasses.asdict(done))
        return
    out.print(f"company      {done.company_id}")
    out.print(f"API key      {done.api_key}")
    out.print(f"             ({done.key_id}; shown once: send it as X-API-Key to backoffice-api)")
    out.print(f"instance     {done.instance} ({done.instance_id})")
    out.print(f"webhook      {done.webhook_url}")
    out.print(f"events       {', '.join(onboarding.EVENTS)}")
    out.print(f"secret       {done.webhook_secret} (shown once)")
    out.print("\nPoint the instance at it, from a shell that has Evolution's URL and global API key:\n")
    body = json.dumps(done.evolution_webhook)
    out.print(
        f'curl -X POST "$EVOLUTION_API_URL/webhook/set/{done.instance}" -H "apikey: $EVOLUTION_API_KEY" '
        f"-H 'Content-Type: application/json' -d '{body}'",
        markup=False,
    )
    if not done.webhook_url.startswith("https://"):
        err.print(
            "[yellow]note:[/] the webhook URL is not HTTPS; a real Evolution should reach it through the "
            "reverse proxy of docs/deploy.md (--public-url / WOLFGANG_PUBLIC_URL)"
        )


def _say(line: str) -> None:
    out.print(f"[dim]demo ▸[/] {line}")


def _silent(line: str) -> None:
    pass


@app.command()
@guard
def tail(
    ctx: typer.Context,
    channels: Annotated[
        list[str] | None, typer.Argument(help="Catalog channels [default: all seven].")
    ] = None,
    pattern: Annotated[
        str | None, typer.Option(help="A glob over channel names instead, e.g. 'lead.*'.")
    ] = None,
    company_id: Annotated[str | None, typer.Option(help="Only this company's events.")] = None,
    count: Annotated[int | None, typer.Option(min=1, help="Stop after this many events.")] = None,
    wide: Annotated[
        bool, typer.Option("--wide", help="Full ids: event, correlation, causation, company.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One envelope per line, as on the wire.")] = False,
) -> None:
    """Follow the bus live, one coloured line per event with its correlation id.

    At-most-once: this reads the live Pub/Sub announcements, so events published while it is not
    connected, or faster than it can print, are not shown. They are all in the streams:
    `wolfgang events TYPE --since 10m` reads those.
    """

    def show(event: object) -> None:
        if as_json:
            sys.stdout.write(event.to_wire().decode() + "\n")  # type: ignore[attr-defined]
            sys.stdout.flush()
        else:
            out.print(tail_module.render(event, wide=wide))  # type: ignore[arg-type]

    async def work() -> None:
        async with target(ctx).bus() as bus:
            await tail_module.follow(
                bus, channels or (), on_event=show, pattern=pattern, company_id=company_id, count=count
            )

    # Ctrl-C is how a tail ends: quietly.
    with contextlib.suppress(KeyboardInterrupt):
        run(work())


@app.command("acl-file")
@guard
def acl_file(
    ctx: typer.Context,
    cluster: Annotated[bool, typer.Option(help="Live channels as on a Redis Cluster (sharded).")] = False,
) -> None:
    """Print a Redis aclfile: the admin (`default`, REDIS_ADMIN_PASSWORD) and one least-privilege user per
    service (REDIS_PASSWORD_<SERVICE>), for `redis-server --aclfile`. Only password hashes are written."""
    t = target(ctx)
    sys.stdout.write(acl.aclfile(t.prefix, t.live_prefix, os.environ, cluster=cluster))


app.command()(guard(events.publish))
app.command("events")(guard(events.events))
app.command()(guard(events.replay))
app.command()(consumers_module.consumers)
app.add_typer(dlq.app, name="dlq")
app.add_typer(backup.app, name="backup")
app.add_typer(secrets.app, name="secrets")
app.add_typer(outcomes.app, name="outcomes")
app.add_typer(contracts.app, name="contracts")
app.add_typer(keys.app, name="keys")


def main() -> None:
    # stdout is for results (`--json`); the bus's own log lines are for people, and only when they matter.
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    try:
        app()
    except EXPECTED as exc:  # raised outside a command (typer's own parsing never gets here)
        err.print(f"[bold red]error:[/] {describe(exc)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
