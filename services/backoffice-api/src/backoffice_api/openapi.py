"""`python -m backoffice_api.openapi [PATH]`: write the OpenAPI document (default
``contracts/openapi/backoffice-api.json``); a test fails when the committed one drifts from the app."""

from __future__ import annotations

import sys
from typing import Any

from fastapi import FastAPI
from servicekit import openapi

from backoffice_api.app import create_app
from backoffice_api.settings import Settings


def make_app() -> FastAPI:
    # Settings only shape routes through defaults; the environment must not leak into the contract.
    return create_app(Settings(_env_file=None))


def document() -> dict[str, Any]:
    return openapi.document(make_app)


def render() -> str:
    return openapi.render(make_app())


if __name__ == "__main__":
    openapi.main("backoffice-api", make_app, sys.argv[1:])
