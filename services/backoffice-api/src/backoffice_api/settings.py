"""backoffice-api configuration, from `BACKOFFICE_*` environment variables (and the shared `REDIS_URL`,
`BUS_PREFIX`).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import AliasChoices, Field, HttpUrl, SecretStr
from pydantic_settings import SettingsConfigDict
from servicekit import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BACKOFFICE_", extra="ignore")

    #: Its credential for each service it calls, one per pair, read under the callee's variable name; no
    #: defaults: production refuses to start without them (servicekit.secrets).
    required_secrets: ClassVar[tuple[str, ...]] = (
        "autentique_token",
        "evolution_token",
        "agent_token",
        "capi_token",
    )

    port: int = 8000

    #: autentique-service internal API (contracts) and its bearer token.
    autentique_url: HttpUrl = HttpUrl("http://127.0.0.1:8004")
    autentique_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("autentique_token", "AUTENTIQUE_SERVICE_TOKEN")
    )
    #: evolution-manager admin API (the WhatsApp instance registry).
    evolution_url: HttpUrl = HttpUrl("http://127.0.0.1:8001")
    evolution_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("evolution_token", "EVOLUTION_ADMIN_TOKEN")
    )
    #: agent-runtime admin API (owner of the human-handoff flag).
    agent_url: HttpUrl = HttpUrl("http://127.0.0.1:8002")
    agent_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("agent_token", "AGENT_ADMIN_TOKEN")
    )
    #: facebook-capi's unknown outcomes (/ops/outcomes), with backoffice-api's own credential for it.
    capi_url: HttpUrl = HttpUrl("http://127.0.0.1:8003")
    capi_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("capi_token", "CAPI_BACKOFFICE_TOKEN")
    )
    upstream_timeout: float = Field(5.0, gt=0)
    #: The platform operator's credential for ``POST /admin/companies/{id}/keys`` (routes/admin.py); unset,
    #: that route lets nobody in.
    admin_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("admin_token", "BACKOFFICE_ADMIN_TOKEN")
    )

    #: Default token bucket of an API key: sustained requests per minute, and the burst it may spend at once.
    rate_limit_per_minute: int = Field(100, ge=1)
    rate_limit_burst: int = Field(20, ge=1)
    #: Seconds a metrics answer is served from cache (the counters change on every event; operators poll).
    metrics_cache_seconds: int = Field(10, ge=0)
    #: Seconds between SSE keep-alive comments (proxies drop silent connections).
    sse_keepalive_seconds: float = Field(15.0, gt=0)
    #: Seconds between re-checks of an SSE stream's API key (revoked or expired → the stream ends).
    sse_recheck_seconds: float = Field(30.0, gt=0, le=30)
    #: Seconds an SSE stream lives at most; the client reconnects (and is authorised again).
    sse_max_lifetime_seconds: float = Field(3600.0, gt=0)
    #: Open SSE streams allowed per API key, and in all, in one process (beyond: 429).
    sse_max_streams_per_key: int = Field(5, ge=1)
    sse_max_streams: int = Field(500, ge=1)
    #: Run the projections' consumer group in this process (replicas that only answer HTTP may turn it off).
    consume: bool = True
