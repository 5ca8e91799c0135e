"""`python -m agent_runtime` / `agent-runtime`: settings from the environment, JSON logs, uvicorn."""

from __future__ import annotations

import servicekit

from agent_runtime import SERVICE
from agent_runtime.app import create_app
from agent_runtime.settings import Settings


def main() -> None:
    settings = Settings()
    servicekit.run(create_app, settings, service=SERVICE)


if __name__ == "__main__":
    main()
