"""`python -m facebook_capi` / `facebook-capi`: settings from the environment, JSON logs, uvicorn."""

from __future__ import annotations

import servicekit

from facebook_capi import SERVICE
from facebook_capi.app import create_app
from facebook_capi.settings import Settings


def main() -> None:
    settings = Settings()
    servicekit.run(create_app, settings, service=SERVICE)


if __name__ == "__main__":
    main()
