"""``wolfgang keys create``: an operator key for a company, made by backoffice-api (``wolfgang.operator_keys``).

Listing and revoking keys stay with backoffice-api's own command (``backoffice-api keys list|revoke``), run
where the service runs: the command line holds the platform operator's credential for one route, not
backoffice-api's Redis keys.
"""

from __future__ import annotations

from typing import Annotated

import httpx
import typer

from wolfgang import credentials, operator_keys
from wolfgang.console import CliError, guard, out, print_json, run
from wolfgang.datadir import default_data_dir

app = typer.Typer(
    help="Operator API keys of backoffice-api: create (shown once). List and revoke: "
    "`backoffice-api keys list|revoke` where backoffice-api runs.",
    no_args_is_help=True,
)

AdminToken = Annotated[
    str | None,
    typer.Option(
        envvar="BACKOFFICE_ADMIN_TOKEN",
        help="The platform operator's credential backoffice-api runs with [default: the local system's, "
        "from `make run`'s data directory].",
        show_default=False,
    ),
]
BackofficeUrl = Annotated[
    str, typer.Option(envvar="BACKOFFICE_URL", help="backoffice-api, which makes the key.")
]


def admin_token(given: str | None) -> str:
    token = given or credentials.saved(default_data_dir(), "BACKOFFICE_ADMIN_TOKEN")
    if not token:
        raise CliError(
            "no platform operator credential: set BACKOFFICE_ADMIN_TOKEN (or --admin-token) to the value "
            "backoffice-api runs with; `make run` keeps its own in .data/credentials.json"
        )
    return token


@app.command()
@guard
def create(
    company: Annotated[str, typer.Option(help="The company the key acts for (cmp_…).")],
    name: Annotated[str, typer.Option(help="What the key is for.")] = "",
    backoffice_url: BackofficeUrl = "http://127.0.0.1:8000",
    token: AdminToken = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Create a key with the company operator's scopes. It is printed once and stored nowhere: copy it now."""

    async def work() -> operator_keys.OperatorKey:
        async with httpx.AsyncClient(timeout=15.0) as http:
            return await operator_keys.create(
                http, backoffice_url, admin_token(token), company_id=company, name=name
            )

    key = run(work())
    if as_json:
        print_json({"key_id": key.key_id, "company_id": key.company_id, "api_key": key.api_key})
        return
    out.print(f"key id: [bold]{key.key_id}[/] ({key.company_id}; {' '.join(key.scopes)})")
    out.print("API key (shown once, store it now):")
    out.print(key.api_key, markup=False)
