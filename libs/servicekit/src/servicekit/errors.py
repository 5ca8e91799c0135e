"""Errors every service may raise, and the one table that turns them into HTTP answers.

ServiceError
  Malformed            → 400 (a body that cannot be read at all: not JSON, or not the shape the sender uses)
  NotFound             → 404
  Conflict             → 409
  PreconditionFailed   → 412 (an If-Match that no longer matches: the resource changed since it was read)
  Unauthenticated      → 401
  Forbidden            → 403
  RateLimited          → 429 with Retry-After
  UpstreamUnavailable  → 502 (an external API failed or timed out; retry later)
  UpstreamRejected     → 502 as well for callers, and a permanent failure for event handlers
plus the bus's: InvalidEvent → 422, BusUnavailable → 503 with Retry-After, ReplayOutsideWindow → 409.

Starlette looks exception handlers up along the MRO, so subclasses need no rows of their own.
"""

from __future__ import annotations

from typing import Any

import structlog
from eventbus import BusUnavailable, InvalidEvent, PermanentFailure, ReplayOutsideWindow
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

log = structlog.get_logger("servicekit")


class ServiceError(Exception):
    """Base of service errors; ``str(error)`` is safe to show to the caller."""


class Malformed(ServiceError):
    """A body we cannot read at all; the message says where, never echoing the input."""


class NotFound(ServiceError):
    pass


class Conflict(ServiceError):
    pass


class PreconditionFailed(ServiceError):
    pass


class Unauthenticated(ServiceError):
    pass


class Forbidden(ServiceError):
    pass


class RateLimited(ServiceError):
    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UpstreamUnavailable(ServiceError):
    """An external API could not be reached, timed out or answered 429/5xx: retrying may help."""


class UpstreamRejected(UpstreamUnavailable, PermanentFailure):
    """An external API refused the request (4xx other than 429): retrying the same request cannot help."""


HTTP_STATUS: dict[type[Exception], int] = {
    Malformed: 400,
    NotFound: 404,
    Conflict: 409,
    PreconditionFailed: 412,
    Unauthenticated: 401,
    Forbidden: 403,
    RateLimited: 429,
    UpstreamUnavailable: 502,
    InvalidEvent: 422,
    BusUnavailable: 503,
    ReplayOutsideWindow: 409,
}
_CODES = {
    400: "malformed",
    404: "not_found",
    409: "conflict",
    412: "precondition_failed",
    401: "unauthenticated",
    403: "forbidden",
    429: "rate_limited",
    502: "upstream_unavailable",
    422: "invalid",
    503: "unavailable",
}


def error_body(status: int, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": _CODES.get(status, "error"), "message": message, **extra}}


async def _known(request: Request, exc: Exception) -> JSONResponse:
    status = next(code for kind, code in HTTP_STATUS.items() if isinstance(exc, kind))
    headers: dict[str, str] = {}
    if isinstance(exc, BusUnavailable):
        headers["Retry-After"] = "5"
        message = "the event store is unavailable; retry later"
    else:
        message = str(exc)
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    if status >= 500:
        log.warning("request_failed", status=status, error=type(exc).__name__, path=request.url.path)
    return JSONResponse(error_body(status, message), status_code=status, headers=headers)


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """Each problem names the field, pydantic's rule (``type``) and its message; never the input (which may
    be a phone number or a name): ``err["input"]`` and ``ctx`` stay out of the answer."""
    assert isinstance(exc, RequestValidationError)
    problems = [
        {
            "field": ".".join(str(p) for p in err["loc"] if p != "body") or "body",
            "rule": str(err.get("type", "invalid")),
            "problem": err["msg"],
        }
        for err in exc.errors()[:20]
    ]
    summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems[:3])
    return JSONResponse(error_body(422, summary, problems=problems), status_code=422)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("request_crashed", path=request.url.path, error=type(exc).__name__)
    return JSONResponse(error_body(500, "internal error"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    for kind in HTTP_STATUS:
        app.add_exception_handler(kind, _known)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(Exception, _unexpected)
