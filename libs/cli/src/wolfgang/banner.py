"""What ``wolfgang up`` prints once the system runs: where each process is, the demo's key, and commands to
try that work as typed from the directory ``make run`` ran in (no ``uv`` on PATH needed: ``make`` may have
installed uv into ``.tools/``, and the ``./wolfgang`` launcher runs the CLI from the project's venv)."""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Iterable
from pathlib import Path

from fakes.evolution_webhooks import text_message_webhook
from rich.markup import escape

from wolfgang.console import out
from wolfgang.datadir import DATA_DIR_VARIABLE
from wolfgang.demo import Seed
from wolfgang.onboarding import SECRET_HEADER, WEBHOOK_PATH
from wolfgang.system import FAKES, INSTANCE, INSTANCE_WEBHOOK_SECRET, System

LAUNCHER = "wolfgang"


def cli_command(data_dir: Path, cwd: Path | None = None) -> str:
    """How to call the CLI from ``cwd``: the project's ``./wolfgang`` launcher (beside the venv this runs from)
    when there is one, else this interpreter; with the data directory named when it is not the default one."""
    here = (cwd or Path.cwd()).resolve()
    launcher = Path(sys.prefix).resolve().parent / LAUNCHER
    if launcher.is_file() and os.access(launcher, os.X_OK):
        command = f"./{LAUNCHER}" if launcher.parent == here else shlex.quote(str(launcher))
    else:
        command = f"{shlex.quote(sys.executable)} -m wolfgang"
    # the launcher's own default is the project's .data; anything else is said
    default = launcher.parent / ".data" if launcher.is_file() else here / ".data"
    if data_dir.resolve() != default:
        command = f"{DATA_DIR_VARIABLE}={shlex.quote(str(data_dir.resolve()))} {command}"
    return command


def webhook_curl(system: System, number: str = "5511988887777") -> str:
    """A WhatsApp message as Evolution posts it, straight to evolution-manager with the instance's secret."""
    body = text_message_webhook(
        instance=INSTANCE, from_number=number, text="Oi, quero fazer um aniversário de 15 anos"
    )
    url = system.url("evolution-manager") + WEBHOOK_PATH
    return (
        f"curl -s {url} -H '{SECRET_HEADER}: {INSTANCE_WEBHOOK_SECRET}' -H 'content-type: application/json' "
        f"-d {shlex.quote(json.dumps(body, ensure_ascii=False))}"
    )


def commands(system: System, data_dir: Path, seed: Seed) -> list[tuple[str, str]]:
    """(what it shows, the command) for the banner."""
    api, key, cli = system.url("backoffice-api"), seed.api_key, cli_command(data_dir)
    fake_evolution = system.url("fake-evolution")
    hello = json.dumps(
        {
            "instance": INSTANCE,
            "template": "text",
            "params": {"from_number": "5511988887777", "text": "Oi, quero fazer um aniversário de 15 anos"},
        },
        ensure_ascii=False,
    )
    found: list[tuple[str, str]] = []
    if key:
        found += [
            ("the company's leads", f"curl -s {api}/v1/leads -H 'X-API-Key: {key}'"),
            ("its contracts", f"curl -s {api}/v1/contracts -H 'X-API-Key: {key}'"),
        ]
    found += [
        (
            f"a webhook by hand (the instance's secret in {SECRET_HEADER}; a message id is taken once)",
            webhook_curl(system),
        ),
        (
            "the same through fake Evolution (it retries as the real one)",
            f"curl -s {fake_evolution}/_fake/webhooks/send -H 'content-type: application/json' "
            f"-d {shlex.quote(hello)}",
        ),
        ("what the agent sent on WhatsApp", f"curl -s {fake_evolution}/_fake/sent"),
        ("the conversions Meta received", f"curl -s {system.url('fake-graph')}/_fake/events"),
        ("the live bus", f"{cli} tail"),
        ("consumer groups, lag, dead letters", f"{cli} consumers"),
        ("the last hour's messages", f"{cli} events message.received --since 1h"),
    ]
    return found


def show(system: System, services: Iterable[str], data_dir: Path, seed: Seed | None) -> None:
    out.rule("running")
    for name in (*services, *(f.name for f in FAKES)):
        out.print(f"  {name:<20} {system.url(name)}")
    out.print(f"  {'redis':<20} {system.redis_url}  (prefix {system.prefix})")
    out.print(f"  logs                 {data_dir / 'logs'}/<name>.log")
    if seed is None:
        return
    if seed.api_key:
        api = system.url("backoffice-api")
        out.print(f"\n  company              {seed.company_id}")
        out.print(f"  operator API key     [bold]{seed.api_key}[/]  (kept in {data_dir / 'demo.json'})")
        out.print(f"  operators' console   {api}/console/  (sign in with that key)")
        out.print(
            f"  webhook secret       {INSTANCE_WEBHOOK_SECRET}  (instance {INSTANCE}, header {SECRET_HEADER})"
        )
    out.print("\n  try:")
    for what, command in commands(system, data_dir, seed):
        out.print(f"    [dim]# {escape(what)}[/]")
        out.print(f"    {escape(command)}")
