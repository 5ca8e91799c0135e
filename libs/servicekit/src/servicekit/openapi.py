"""Each service's OpenAPI document, exported to ``contracts/openapi/<service>.json``.

A service's ``openapi`` module calls :func:`main` with its app factory; ``make contracts`` runs all five and
``tests/contracts/test_openapi.py`` fails when a committed document drifts from its app.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI

#: contracts/openapi/ at the repository's root (this file is libs/servicekit/src/servicekit/openapi.py).
CONTRACTS = Path(__file__).resolve().parents[4] / "contracts" / "openapi"


def render(app: FastAPI) -> str:
    return json.dumps(app.openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(name: str, make_app: Callable[[], FastAPI], argv: list[str]) -> None:
    """Write ``make_app()``'s document to ``argv[0]`` or ``contracts/openapi/<name>.json``."""
    path = Path(argv[0]) if argv else CONTRACTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(make_app()), encoding="utf-8")
    print(f"wrote {path}")


def document(make_app: Callable[[], FastAPI]) -> dict[str, Any]:
    return make_app().openapi()
