"""backoffice-api configuration, from `BACKOFFICE_*` environment variables (and the shared `REDIS_URL`,
`BUS_PREFIX`).
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, HttpUrl, SecretStr
from pydantic_settings import SettingsConfigDict
from servicekit import ServiceSettings

_DEV_TOKEN = SecretStr("dev-service-token")  # the agreed local default of every internal API (service brief)


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BACKOFFICE_", extra="ignore")

    port: int = 8000

    #: autentique-service internal API (contracts) and its bearer token.
    autentique_url: HttpUrl = HttpUrl("http://127.0.0.1:8004")
    autentique_token: SecretStr = Field(
        _DEV_TOKEN, validation_alias=AliasChoices("autentique_token", "AUTENTIQUE_SERVICE_TOKEN")
    )
    #: evolution-manager admin API (the WhatsApp instance registry).
    evolution_url: HttpUrl = HttpUrl("http://127.0.0.1:8001")
    evolution_token: SecretStr = Field(
        _DEV_TOKEN, validation_alias=AliasChoices("evolution_token", "EVOLUTION_ADMIN_TOKEN")
    )
    #: agent-runtime admin API (owner of the human-handoff flag).
    agent_url: HttpUrl = HttpUrl("http://127.0.0.1:8002")
    agent_token: SecretStr = Field(
        _DEV_TOKEN, validation_alias=AliasChoices("agent_token", "AGENT_ADMIN_TOKEN")
    )
    #: facebook-capi admin API (its unknown outcomes, /ops/outcomes).
    capi_url: HttpUrl = HttpUrl("http://127.0.0.1:8003")
    capi_token: SecretStr = Field(_DEV_TOKEN, validation_alias=AliasChoices("capi_token", "CAPI_ADMIN_TOKEN"))
    upstream_timeout: float = Field(5.0, gt=0)

    #: Default token bucket of an API key: sustained requests per minute, and the burst it may spend at once.
    rate_limit_per_minute: int = Field(100, ge=1)
    rate_limit_burst: int = Field(20, ge=1)
    #: Seconds a metrics answer is served from cache (the counters change on every event; operators poll).
    metrics_cache_seconds: int = Field(10, ge=0)
    #: Seconds between SSE keep-alive comments (proxies drop silent connections).
    sse_keepalive_seconds: float = Field(15.0, gt=0)
    #: Run the projections' consumer group in this process (replicas that only answer HTTP may turn it off).
    consume: bool = True
