"""``wolfgang contracts export [dir]``: the JSON Schemas and AsyncAPI document generated from the catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from eventbus.contracts import render

from wolfgang.console import CliError, guard, out, print_json

app = typer.Typer(help="Contracts generated from the catalog models.", no_args_is_help=True)


@app.command()
@guard
def export(
    directory: Annotated[
        Path, typer.Argument(help="Where to write (the repository keeps them in contracts/).")
    ] = Path("contracts"),
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 when the files differ from the catalog.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Write schemas/<type>.v<version>.json and asyncapi.json."""
    files = render()
    changed = [
        relative
        for relative, content in files.items()
        if not (directory / relative).is_file()
        or (directory / relative).read_text(encoding="utf-8") != content
    ]
    if check:
        if as_json:
            print_json({"directory": str(directory), "drifted": changed})
        if changed:
            raise CliError(f"{len(changed)} contract file(s) differ from the catalog: {', '.join(changed)}")
        if not as_json:
            out.print(f"{directory}: {len(files)} files match the catalog")
        return
    for relative in changed:
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[relative], encoding="utf-8")
    if as_json:
        print_json({"directory": str(directory), "written": changed, "unchanged": len(files) - len(changed)})
    else:
        out.print(f"{directory}: wrote {len(changed)} file(s), {len(files) - len(changed)} unchanged")
