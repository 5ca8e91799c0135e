"""The ``/v1`` routes, one module per noun; thin: parse, call, shape the answer."""

from __future__ import annotations

from typing import Any

from backoffice_api.models import ErrorBody

#: Answers every ``/v1`` route may give besides its own, documented once for the OpenAPI document.
COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body is not JSON at all"},
    401: {"model": ErrorBody, "description": "Missing or unknown X-API-Key"},
    403: {"model": ErrorBody, "description": "Key revoked or expired, or lacking the route's scope"},
    422: {
        "model": ErrorBody,
        "description": "A parameter or the body is invalid; `problems` names the fields",
    },
    429: {"model": ErrorBody, "description": "Rate limit exceeded; see Retry-After"},
    503: {"model": ErrorBody, "description": "Redis is unavailable; see Retry-After"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such resource in this key's company"}
}
UPSTREAM: dict[int | str, dict[str, Any]] = {
    502: {"model": ErrorBody, "description": "The service that owns this resource failed or refused"}
}
