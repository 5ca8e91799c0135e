"""`python -m agent_runtime.openapi [PATH]`: write the OpenAPI document
(default ``contracts/openapi/agent-runtime.json``); a test fails when the committed one drifts from the app."""

from __future__ import annotations

import sys

from fastapi import FastAPI
from servicekit import openapi

from agent_runtime.app import create_app
from agent_runtime.settings import Settings


def make_app() -> FastAPI:
    # Settings only shape routes through defaults; the environment must not leak into the contract.
    return create_app(Settings(_env_file=None))


if __name__ == "__main__":
    openapi.main("agent-runtime", make_app, sys.argv[1:])
