"""`python -m autentique_service` / `autentique-service`: settings from the environment, JSON logs, uvicorn."""

from __future__ import annotations

import gc

import servicekit

from autentique_service import SERVICE
from autentique_service.app import create_app
from autentique_service.settings import Settings


def main() -> None:
    settings = Settings()
    app = create_app(settings)
    # Everything imported so far (FastAPI, pydantic, fpdf2 with fontTools and Pillow, Babel) lives as long as
    # the process; frozen, a full collection no longer walks it. Measured: a gen-2 collection paused a
    # webhook for ~60 ms before, ~1.5 ms after (docs/bench/autentique-service.md).
    gc.freeze()
    servicekit.serve(app, settings, service=SERVICE)


if __name__ == "__main__":
    main()
