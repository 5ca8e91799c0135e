"""What routes depend on: the ports built by ``create_app``, the caller's key and scopes, cursors."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from eventbus import Bus
from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from servicekit import Forbidden, Unauthenticated

from backoffice_api.apikeys import ApiKey, ApiKeys
from backoffice_api.clients.agent import AgentAdminClient
from backoffice_api.clients.autentique import AutentiqueClient
from backoffice_api.clients.capi import CapiSettingsClient
from backoffice_api.clients.evolution import EvolutionAdminClient
from backoffice_api.clients.outcomes import OutcomeOwners
from backoffice_api.counters import Reports
from backoffice_api.deals import Deals
from backoffice_api.live import LiveHub
from backoffice_api.ratelimit import RateLimiter
from backoffice_api.settings import Settings
from backoffice_api.store import ReadModels


class InvalidParameter(ValueError):
    """A parameter pydantic accepted but the service cannot use (a forged cursor, an inverted range) → 422."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class Ports:
    settings: Settings
    bus: Bus
    models: ReadModels
    deals: Deals
    api_keys: ApiKeys
    limiter: RateLimiter
    reports: Reports
    autentique: AutentiqueClient
    evolution: EvolutionAdminClient
    agent: AgentAdminClient
    #: The SSE streams' shared subscription and caps.
    live: LiveHub
    #: facebook-capi's per-company settings (routes/admin_capi.py).
    capi: CapiSettingsClient
    #: The services that own side-effect records, asked about unknown outcomes.
    outcome_owners: OutcomeOwners


def get_ports(request: Request) -> Ports:
    ports: Ports = request.app.state.ports
    return ports


PortsDep = Annotated[Ports, Depends(get_ports)]

#: Declared for the OpenAPI document; the key is checked by ``access.Access`` before any route runs.
api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An API key (`wolfgang keys create`)"
)


def requires(scope: str) -> Callable[..., Awaitable[ApiKey]]:
    async def principal(request: Request, _: Annotated[str | None, Security(api_key_header)]) -> ApiKey:
        key: ApiKey | None = getattr(request.state, "principal", None)
        if key is None:  # only when a route is mounted outside /v1, where Access does not run
            raise Unauthenticated("missing X-API-Key header")
        if scope not in key.scopes:
            raise Forbidden(f"this API key lacks the '{scope}' scope")
        return key

    return principal


LeadsRead = Annotated[ApiKey, Depends(requires("leads:read"))]
LeadsWrite = Annotated[ApiKey, Depends(requires("leads:write"))]
DealsRead = Annotated[ApiKey, Depends(requires("deals:read"))]
DealsWrite = Annotated[ApiKey, Depends(requires("deals:write"))]
ContractsRead = Annotated[ApiKey, Depends(requires("contracts:read"))]
ContractsWrite = Annotated[ApiKey, Depends(requires("contracts:write"))]
InstancesRead = Annotated[ApiKey, Depends(requires("instances:read"))]
InstancesWrite = Annotated[ApiKey, Depends(requires("instances:write"))]
MetricsRead = Annotated[ApiKey, Depends(requires("metrics:read"))]
EventsRead = Annotated[ApiKey, Depends(requires("events:read"))]
OpsAdmin = Annotated[ApiKey, Depends(requires("ops:admin"))]
#: A company's administration (its agent settings): a scope of its own (issue #24, item 5).
Admin = Annotated[ApiKey, Depends(requires("admin"))]
#: The platform's own operators: views across every company (consumer groups, every company's dead letters).
PLATFORM_SCOPE = "platform:admin"
PlatformAdmin = Annotated[ApiKey, Depends(requires(PLATFORM_SCOPE))]

_MEMBER = re.compile(r"^[0-9]{16}:[A-Za-z0-9_-]{1,120}$")


def encode_cursor(member: str | None) -> str | None:
    return None if member is None else base64.urlsafe_b64encode(member.encode()).decode().rstrip("=")


def unpack_cursor(cursor: str) -> str:
    """The index member a cursor carries (``encode_cursor``'s inverse), or "" when it is not base64 text."""
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return ""


def decode_cursor(cursor: str | None) -> str | None:
    """An index position from a cursor this API handed out; anything else is the caller's mistake."""
    if cursor is None:
        return None
    member = unpack_cursor(cursor)
    if not _MEMBER.match(member):
        raise InvalidParameter("cursor", "not a cursor returned by this API")
    return member


def stream_id(field: str, value: str | None) -> str | None:
    """A Redis stream entry id (``<ms>-<seq>``, each an unsigned 64-bit number); Redis refuses others."""
    if value is not None and any(int(part) >= 2**64 for part in value.split("-")):
        raise InvalidParameter(field, "not a stream entry id")
    return value
