"""`python -m evolution_manager` / `evolution-manager`: settings from the environment, JSON logs, uvicorn."""

from __future__ import annotations

import servicekit

from evolution_manager import SERVICE
from evolution_manager.app import create_app
from evolution_manager.settings import Settings


def main() -> None:
    settings = Settings()
    servicekit.run(create_app, settings, service=SERVICE)


if __name__ == "__main__":
    main()
