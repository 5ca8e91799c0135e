"""What every service shares: settings base, JSON logging, health and metrics, error mapping, body limits."""

from servicekit.app import docs_options, install
from servicekit.errors import (
    HTTP_STATUS,
    Conflict,
    Forbidden,
    Malformed,
    NotFound,
    PreconditionFailed,
    RateLimited,
    ServiceError,
    Unauthenticated,
    UpstreamRejected,
    UpstreamUnavailable,
    error_body,
)
from servicekit.logging import configure_logging
from servicekit.requests import http_client
from servicekit.runtime import bus_for, consuming
from servicekit.serve import run, serve
from servicekit.settings import ServiceSettings

__all__ = [
    "HTTP_STATUS",
    "Conflict",
    "Forbidden",
    "Malformed",
    "NotFound",
    "PreconditionFailed",
    "RateLimited",
    "ServiceError",
    "ServiceSettings",
    "Unauthenticated",
    "UpstreamRejected",
    "UpstreamUnavailable",
    "bus_for",
    "configure_logging",
    "consuming",
    "docs_options",
    "error_body",
    "http_client",
    "install",
    "run",
    "serve",
]
