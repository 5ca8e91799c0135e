"""`python -m backoffice_api` / `backoffice-api`: settings from the environment, JSON logs, uvicorn."""

from __future__ import annotations

import servicekit

from backoffice_api import SERVICE
from backoffice_api.app import create_app
from backoffice_api.settings import Settings


def main() -> None:
    settings = Settings()
    servicekit.serve(create_app(settings), settings, service=SERVICE)


if __name__ == "__main__":
    main()
