"""autentique-service configuration, from `AUTENTIQUE_*` environment variables (and the shared `REDIS_URL`,
`BUS_PREFIX`).

Every setting has a default that works against the local fake (`python -m fakes autentique`), so that
`make run` and the cross-service health test need nothing set; production sets the tokens and secrets.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict
from servicekit import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AUTENTIQUE_", extra="ignore")

    required_secrets: ClassVar[tuple[str, ...]] = ("api_token", "service_token", "webhook_secret")

    port: int = 8004
    #: The full GraphQL URL (reference §1): `https://api.autentique.com.br/v2/graphql` in production.
    api_url: str = "http://127.0.0.1:8081/v2/graphql"
    #: Bearer token of the Autentique account used when a company has none of its own.
    api_token: SecretStr | None = None
    #: `{"cmp_…": "token"}` (JSON): companies that sign with their own Autentique account.
    company_api_tokens: dict[str, SecretStr] = Field(default_factory=dict)
    #: `AUTENTIQUE_SERVICE_TOKEN`: backoffice-api's credential, sent as `Authorization: Bearer …`.
    service_token: SecretStr | None = None
    #: Secret of the webhook endpoint registered without `?company_id=` (the deployment's own account).
    webhook_secret: SecretStr | None = None
    #: `{"cmp_…": "secret"}` (JSON): endpoints registered as `/webhooks/autentique?company_id=cmp_…`.
    company_webhook_secrets: dict[str, SecretStr] = Field(default_factory=dict)
    #: Folder of per-company contract templates, `<company_id>.txt`; the packaged default otherwise.
    templates_dir: Path | None = None
    #: Documents created with `sandbox: true` are free and legally void (reference §1): demos and staging.
    sandbox: bool = False
    #: Deadline of one call to Autentique, whole response included.
    request_timeout: float = Field(15.0, gt=0)
    #: Attempts at creating one document (each after the first looks the document up first).
    create_attempts: int = Field(3, ge=1)
    retry_initial_delay: float = Field(0.5, ge=0)
    breaker_failures: int = Field(5, ge=1)
    breaker_recovery_seconds: float = Field(30.0, gt=0)
    #: Uploaded contracts come as multipart bodies; the 256 KiB default of other services is too small.
    max_body_bytes: int = 12 * 1024 * 1024
    #: How long a webhook event id is remembered; Autentique retries for minutes and keeps failures 14 days.
    webhook_replay_window_days: int = Field(15, ge=1)
    #: How long a request's `Idempotency-Key` answers with the first result (at least a day: an operator's
    #: retry the next morning must not re-issue a contract again).
    idempotency_hours: int = Field(24, ge=24)
    #: How long a request waits for a running request with the same key before answering 409 `in_progress`.
    idempotency_wait_seconds: float = Field(30.0, ge=0)
