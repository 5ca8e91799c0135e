"""`python -m autentique_service` / `autentique-service`: settings from the environment, JSON logs, uvicorn."""

from __future__ import annotations

import servicekit

from autentique_service import SERVICE
from autentique_service.app import create_app
from autentique_service.settings import Settings


def main() -> None:
    settings = Settings()
    servicekit.serve(create_app(settings), settings, service=SERVICE)


if __name__ == "__main__":
    main()
