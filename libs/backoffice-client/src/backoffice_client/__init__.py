"""Typed Python client of backoffice-api: ``BackofficeClient`` (blocking) and ``AsyncBackofficeClient``.

from backoffice_client import BackofficeClient

with BackofficeClient("http://127.0.0.1:8000", api_key="wbk_…") as api:
    for deal in api.iter_deals(stage="proposal", owner="ana"):
        api.move_deal(deal.deal_id, "contract_sent", if_match=deal.etag)
"""

from backoffice_client import admin_models, models
from backoffice_client.async_client import AsyncBackofficeClient
from backoffice_client.calls import UNSET, Call
from backoffice_client.client import BackofficeClient
from backoffice_client.errors import (
    ApiError,
    BackofficeError,
    Conflict,
    Forbidden,
    NotFound,
    PreconditionFailed,
    RateLimited,
    ServerError,
    Unauthorized,
    Unreachable,
    ValidationFailed,
)

__all__ = [
    "UNSET",
    "ApiError",
    "AsyncBackofficeClient",
    "BackofficeClient",
    "BackofficeError",
    "Call",
    "Conflict",
    "Forbidden",
    "NotFound",
    "PreconditionFailed",
    "RateLimited",
    "ServerError",
    "Unauthorized",
    "Unreachable",
    "ValidationFailed",
    "admin_models",
    "models",
]
