"""What a call to backoffice-api can fail with, one type per answer a caller handles differently.

BackofficeError
  Unreachable           no answer: connection refused, timeout, broken connection (httpx's error is the cause)
  ApiError              an error answer: ``status``, ``code``, ``message``, ``problems`` from its body
    ValidationFailed    400 / 422: ``field`` names the first field refused (``problems`` has them all)
    Unauthorized        401: missing or unknown key
    Forbidden           403: key revoked, expired or lacking the route's scope
    NotFound            404: no such resource in the key's company
    Conflict            409: the resource's state refuses it (e.g. a stage move the pipeline forbids)
    PreconditionFailed  412: ``If-Match`` no longer matches: read again, decide again
    RateLimited         429: ``retry_after`` seconds until a request would be accepted
    ServerError         5xx: the service or one behind it failed
"""

from __future__ import annotations

from typing import Any

import httpx


class BackofficeError(Exception):
    """Base of every error this client raises."""


class Unreachable(BackofficeError):
    """No answer from backoffice-api (after the retries the request allowed)."""


class ApiError(BackofficeError):
    def __init__(self, status: int, code: str, message: str, problems: list[dict[str, str]]) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.problems = problems


class ValidationFailed(ApiError):
    @property
    def field(self) -> str | None:
        return self.problems[0].get("field") if self.problems else None


class Unauthorized(ApiError):
    pass


class Forbidden(ApiError):
    pass


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


class PreconditionFailed(ApiError):
    pass


class RateLimited(ApiError):
    def __init__(self, *args: Any, retry_after: float) -> None:
        super().__init__(*args)
        self.retry_after = retry_after


class ServerError(ApiError):
    pass


_BY_STATUS: dict[int, type[ApiError]] = {
    400: ValidationFailed,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    412: PreconditionFailed,
    422: ValidationFailed,
}


def error_for(response: httpx.Response) -> ApiError:
    """The typed error of an answer ≥ 400, from the API's ``{"error": {code, message, problems}}`` body (or
    whatever a proxy in between sent)."""
    try:
        body = response.json().get("error") or {}
    except (ValueError, AttributeError):
        body = {}
    code = str(body.get("code") or "error")
    message = str(body.get("message") or response.reason_phrase or "error")
    problems = [dict(p) for p in body.get("problems") or [] if isinstance(p, dict)]
    args = (response.status_code, code, message, problems)
    if response.status_code == 429:
        try:
            retry_after = float(response.headers.get("retry-after", "1"))
        except ValueError:
            retry_after = 1.0
        return RateLimited(*args, retry_after=retry_after)
    if response.status_code >= 500:
        return ServerError(*args)
    return _BY_STATUS.get(response.status_code, ApiError)(*args)
