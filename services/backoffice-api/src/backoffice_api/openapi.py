"""`python -m backoffice_api.openapi [PATH]`: write the OpenAPI document (default
``contracts/openapi/backoffice-api.json``); a test fails when the committed one drifts from the app."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from backoffice_api.app import create_app
from backoffice_api.settings import Settings

DEFAULT_PATH = Path(__file__).resolve().parents[4] / "contracts" / "openapi" / "backoffice-api.json"


def document() -> dict[str, Any]:
    # Settings only shape routes through defaults; the environment must not leak into the contract.
    return create_app(Settings(_env_file=None)).openapi()


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> None:
    path = Path(argv[0]) if argv else DEFAULT_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(), encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
