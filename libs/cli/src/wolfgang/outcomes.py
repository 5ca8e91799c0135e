"""``wolfgang outcomes list|resolve``: side effects that may or may not have happened (a WhatsApp text, a Meta
event, an Autentique document whose call timed out, was cut, or answered 5xx), and an operator's decision.

The records belong to the service that performed the effect, so both commands ask that service over HTTP
(``/ops/outcomes``, behind the platform operators' credential for it): ``--url NAME=URL`` points at one
(defaults: the ports ``make run`` uses), ``--token NAME=TOKEN`` gives its credential (defaults: the
environment's ``EVOLUTION_OPERATOR_TOKEN`` / ``CAPI_ADMIN_TOKEN``, else those ``wolfgang up`` keeps in
``.data/credentials.json``). ``--dead-letters`` lists the ``outcome_unknown`` dead letters from Redis instead,
which needs no service running. autentique-service's records are not served over HTTP yet: its unknown
``createDocument`` outcomes are logged and counted (docs/reliability.md).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import typer
from eventbus import DeadLetters
from rich.table import Table
from servicekit.outcomes import is_outcome_unknown

from wolfgang.console import CliError, guard, out, print_json, run
from wolfgang.datadir import DATA_DIR_VARIABLE
from wolfgang.target import target

app = typer.Typer(
    help="Side effects whose outcome is unknown (never resent automatically): list them, resolve one.",
    no_args_is_help=True,
)

#: Where each owner of records listens under `make run`.
SERVICES = {
    "evolution-manager": "http://127.0.0.1:8001",
    "facebook-capi": "http://127.0.0.1:8003",
}
#: The platform operators' credential for each owner (one per caller → callee pair, docs/security.md).
CREDENTIAL = {"evolution-manager": "EVOLUTION_OPERATOR_TOKEN", "facebook-capi": "CAPI_ADMIN_TOKEN"}
#: The (channel, group) pairs whose handlers perform side effects: where their dead letters are.
DEAD_LETTERS = [
    ("message.sent", "evolution-manager"),
    ("lead.created", "facebook-capi"),
    ("lead.qualified", "facebook-capi"),
    ("contract.signed", "facebook-capi"),
]

Urls = Annotated[
    list[str] | None,
    typer.Option("--url", help="NAME=URL of a service (repeat); defaults to make run's ports."),
]
Tokens = Annotated[
    list[str] | None,
    typer.Option(
        "--token",
        help="NAME=TOKEN (repeat): the operators' credential for a service; defaults to "
        "EVOLUTION_OPERATOR_TOKEN / CAPI_ADMIN_TOKEN, else the local system's (.data/credentials.json).",
    ),
]
DataDir = Annotated[
    Path, typer.Option(envvar=DATA_DIR_VARIABLE, help="Where `wolfgang up` keeps the local credentials.")
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _tokens(given: list[str] | None, data_dir: Path) -> dict[str, str]:
    try:
        kept = json.loads((data_dir / "credentials.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        kept = {}
    chosen = {
        name: os.environ.get(variable) or kept.get(variable, "") for name, variable in CREDENTIAL.items()
    }
    for item in given or []:
        name, sep, token = item.partition("=")
        if not sep or name not in CREDENTIAL:
            raise CliError(f"--token takes NAME=TOKEN with NAME one of {', '.join(CREDENTIAL)}")
        chosen[name] = token
    return chosen


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _services(urls: list[str] | None) -> dict[str, str]:
    chosen = dict(SERVICES)
    for item in urls or []:
        name, sep, url = item.partition("=")
        if not sep or name not in SERVICES:
            raise CliError(f"--url takes NAME=URL with NAME one of {', '.join(SERVICES)}")
        chosen[name] = url.rstrip("/")
    return chosen


@app.command("list")
@guard
def list_(
    ctx: typer.Context,
    urls: Urls = None,
    tokens: Tokens = None,
    data_dir: DataDir = Path(".data"),
    dead_letters: Annotated[
        bool, typer.Option("--dead-letters", help="Read the dead letters instead.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Oldest first, per service: the effect, its id, the event and what the upstream answered."""
    if dead_letters:
        _list_dead_letters(ctx, as_json)
        return

    async def work() -> tuple[list[dict[str, Any]], list[str]]:
        rows: list[dict[str, Any]] = []
        unreachable: list[str] = []
        credential = _tokens(tokens, data_dir)
        async with httpx.AsyncClient(timeout=5) as http:
            for name, url in _services(urls).items():
                try:
                    answer = await http.get(f"{url}/ops/outcomes", headers=_bearer(credential[name]))
                except httpx.TransportError:
                    unreachable.append(name)
                    continue
                if answer.status_code != 200:
                    raise CliError(f"{name}: HTTP {answer.status_code} from /ops/outcomes")
                rows.extend({"service": name, **row} for row in answer.json())
        return rows, unreachable

    rows, unreachable = run(work())
    if as_json:
        print_json(rows)
        return
    for name in unreachable:
        out.print(f"{name}: not reachable, skipped")
    if not rows:
        out.print("no unknown outcomes")
        return
    table = Table(title="unknown outcomes")
    for column in ("service", "effect", "id", "event", "answer"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["service"], row["effect"], row["id"], row["event_id"], row["answer"])
    out.print(table)
    out.print(
        "resolve one: wolfgang outcomes resolve SERVICE EFFECT ID --decision delivered|resend --operator NAME"
    )


def _list_dead_letters(ctx: typer.Context, as_json: bool) -> None:
    async def work() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        async with target(ctx).bus() as bus:
            for channel, group in DEAD_LETTERS:
                after: str | None = None
                letters = DeadLetters(bus, channel, group)
                while page := await letters.list(count=200, after=after):
                    found += [d.public() for d in page if is_outcome_unknown(d.reason, d.error)]
                    after = page[-1].id
        return found

    rows = run(work())
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("no outcome_unknown dead letters")
        return
    table = Table(title="outcome_unknown dead letters")
    for column in ("channel", "group", "event", "error"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["channel"], row["group"], row["event_id"], row["error"])
    out.print(table)


@app.command()
@guard
def resolve(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help="The service that owns the record.")],
    effect: Annotated[str, typer.Argument(help="send_text, conversion or create_document.")],
    effect_id: Annotated[str, typer.Argument(help="The record's id (from `outcomes list`).")],
    decision: Annotated[
        str, typer.Option("--decision", help="delivered (mark sent) or resend (send again).")
    ],
    operator: Annotated[str, typer.Option("--operator", help="Who decides; logged with the decision.")],
    urls: Urls = None,
    tokens: Tokens = None,
    data_dir: DataDir = Path(".data"),
    as_json: JsonFlag = False,
) -> None:
    """Record the decision with the service that owns it, then replay the event's dead letter it names, so
    what the event still had to do goes on."""
    if decision not in ("delivered", "resend"):
        raise CliError("--decision is delivered or resend")
    base = _services(urls).get(service)
    if base is None:
        raise CliError(f"unknown service {service!r}: one of {', '.join(SERVICES)}")

    token = _tokens(tokens, data_dir)[service]

    async def work() -> httpx.Response:
        async with httpx.AsyncClient(timeout=10, headers=_bearer(token)) as http:
            return await http.post(
                f"{base}/ops/outcomes/{quote(effect, safe='')}/{quote(effect_id, safe='')}/resolve",
                json={"decision": decision, "operator": operator},
            )

    answer = run(work())
    if answer.status_code != 200:
        raise CliError(f"{service}: HTTP {answer.status_code}")
    letter = answer.json().get("dead_letter")
    if (
        letter
    ):  # the owner named the event's dead letter: replay it, so what the event still had to do goes on

        async def replay() -> str | None:
            async with target(ctx).bus() as bus:
                return await DeadLetters(bus, letter["channel"], letter["group"]).replay(letter["id"])

        run(replay())
    if as_json:
        print_json(answer.json())
    else:
        out.print(f"{service}: {effect} {effect_id} resolved as {decision} by {operator}")
