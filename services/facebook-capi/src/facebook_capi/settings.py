"""facebook-capi configuration, from `CAPI_*` environment variables (and the shared `REDIS_URL`, `BUS_PREFIX`,
`FACEBOOK_GRAPH_URL`). Every setting has a default that works against the local fake Graph API.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict
from servicekit import ServiceSettings

#: Meta refuses events older than 7 days (reference §1). We stop a little earlier: an event still has to wait
#: for its batch and may be retried, and one that crosses the line mid-flight fails the whole request.
SEVEN_DAYS_LESS_MARGIN = 7 * 24 * 3600 - 600


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CAPI_", extra="ignore")

    required_secrets: ClassVar[tuple[str, ...]] = ("admin_token", "backoffice_token", "secrets_keys")

    port: int = 8003
    graph_url: str = Field(
        "https://graph.facebook.com",
        validation_alias=AliasChoices("graph_url", "FACEBOOK_GRAPH_URL", "CAPI_GRAPH_URL"),
    )
    api_version: str = Field("v25.0", pattern=r"^v\d+\.\d+$")
    #: `CAPI_ADMIN_TOKEN`: the platform operators' credential for the admin API (`PUT /v1/companies/{id}/capi`);
    #: no default: unset, nobody is let in, and production refuses to start (servicekit.secrets).
    admin_token: SecretStr | None = None
    #: `CAPI_BACKOFFICE_TOKEN`: backoffice-api's credential, for the unknown outcomes only (`/ops/outcomes`):
    #: operators resolve them from the backoffice; the company settings stay the platform operators'.
    backoffice_token: SecretStr | None = None
    #: Optional JSON file `{"<company_id>": {"pixel_id", "access_token", ...}}`; the admin API's entries win.
    companies_file: Path | None = None
    #: Build and record the requests (`GET /v1/dry-run/requests`) instead of sending them.
    dry_run: bool = False
    #: Meta takes at most 1,000 events per request (reference §1).
    batch_max_events: int = Field(1000, ge=1, le=1000)
    #: How long the first event of a batch waits for company before the batch leaves.
    batch_max_delay: float = Field(0.05, ge=0, le=10)
    request_timeout: float = Field(10.0, gt=0)
    retry_attempts: int = Field(4, ge=1)
    retry_initial_delay: float = Field(0.2, ge=0)
    retry_max_delay: float = Field(5.0, ge=0)
    breaker_failures: int = Field(5, ge=1)
    breaker_recovery_seconds: float = Field(30.0, gt=0)
    max_event_age_seconds: int = Field(SEVEN_DAYS_LESS_MARGIN, gt=0, le=7 * 24 * 3600)
    #: How long a lead's later event (lead.qualified, contract.signed) waits for the lead's lead.created, which
    #: travels on another stream: until it is handled the lead's consent is unknown, so nothing is sent for it.
    #: Past this age (a lead created before this service saw it) it is sent with what is known.
    lead_wait_seconds: float = Field(300.0, ge=0)
    #: Country of phone numbers written without a country code, unless the company's config says otherwise.
    default_country: str = Field("BR", pattern=r"^[A-Za-z]{2}$")
    #: Handlers in flight per channel; each waits for its batch, so this bounds how full a batch can get.
    concurrency: int = Field(256, ge=1)
    #: Connections of the pool the handlers use for this service's own keys (the bus has its own).
    redis_max_connections: int = Field(32, ge=1)
    #: How long a lead's hashed identifiers are kept for its later events (qualification, contract).
    lead_retention_days: int = Field(180, ge=1)
