"""`python -m facebook_capi.openapi [PATH]`: write the OpenAPI document
(default ``contracts/openapi/facebook-capi.json``); a test fails when the committed one drifts from the app."""

from __future__ import annotations

import sys

from fastapi import FastAPI
from pydantic import SecretStr
from servicekit import openapi
from servicekit.secretbox import generate_key

from facebook_capi.app import create_app
from facebook_capi.settings import Settings


def make_app() -> FastAPI:
    # Settings only shape routes through defaults; the environment must not leak into the contract. The app
    # needs a key to seal stored secrets even to describe its routes: a throwaway one.
    return create_app(Settings(_env_file=None, secrets_keys=SecretStr(generate_key())))


if __name__ == "__main__":
    openapi.main("facebook-capi", make_app, sys.argv[1:])
