"""evolution-manager configuration, from `EVOLUTION_*` environment variables (and the shared `REDIS_URL`,
`BUS_PREFIX`, `CONSUMER_NAME`, `LOG_LEVEL`).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import ClassVar

from pydantic import Field, HttpUrl, SecretStr
from pydantic_settings import SettingsConfigDict
from servicekit import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EVOLUTION_", extra="ignore")

    required_secrets: ClassVar[tuple[str, ...]] = ("admin_token", "secrets_keys")

    port: int = 8001
    #: Evolution webhooks carry whole media files when the instance has `base64: true` (reference §5); a
    #: 413 is retried by Evolution and finally dropped, so the limit is generous and `base64: false` advised.
    max_body_bytes: int = 8 * 1024 * 1024
    #: Webhooks per instance and replica: a token bucket refilled at this rate up to the burst; more answer
    #: 429 with Retry-After (Evolution retries). A sales line receives a few messages a second at its
    #: busiest, each with a few status events; a reconnect brings a burst of contacts and chats.
    webhook_rate_per_second: float = Field(50.0, gt=0)
    webhook_burst: int = Field(500, ge=1)

    #: EVOLUTION_API_URL, as shared/reference/evolution-api.md names it; the local fake listens here.
    api_url: HttpUrl = HttpUrl("http://127.0.0.1:8080")
    #: The global key (AUTHENTICATION_API_KEY), used for instances registered without their own token.
    api_key: SecretStr | None = None
    #: `EVOLUTION_ADMIN_TOKEN`: backoffice-api's credential for the admin API (`/v1/instances`), on behalf of
    #: companies: register an instance with its own verified token, update one's own, read. No default: unset,
    #: nobody is let in, and production refuses to start (servicekit.secrets).
    admin_token: SecretStr | None = None
    #: `EVOLUTION_OPERATOR_TOKEN`: the platform operators' own credential for the same API (`wolfgang demo`
    #: seeds with it): also registers platform-created instances (`managed`, no own token needed) and moves
    #: instances between companies. Optional (unset: nobody can), never the same value as backoffice-api's.
    operator_token: SecretStr | None = None
    #: A JSON file of instances loaded into the registry on start (local runs): a list of
    #: `{"name", "company_id", "webhook_secret", "api_key", "channel"}`, or `{"instances": [...]}`.
    instances_file: Path | None = None

    #: The custom header Evolution is configured to send with each webhook (`webhook.headers`).
    webhook_secret_header: str = "x-shared-secret"  # noqa: S105 - the header name, not a secret
    #: Clock skew tolerated on the `iat`/`exp` of the JWT Evolution sends when `jwt_key` is used.
    jwt_leeway_seconds: float = Field(30.0, ge=0)
    #: `EVOLUTION_SKIP_FROM_ME`: drop what a person types on the business's phone (the behaviour before
    #: those messages were published as `message.received` with `from_me`). Echoes of our own sends are
    #: never published either way.
    skip_from_me: bool = False
    skip_groups: bool = True
    skip_broadcast: bool = True
    #: How long a replica remembers an instance for webhook authentication (secret rotation delay); 0: never.
    instance_cache_seconds: float = Field(2.0, ge=0)
    #: Ask Evolution for every instance's connection state when the service starts.
    refresh_on_start: bool = True

    connect_timeout: float = Field(3.0, gt=0)
    read_timeout: float = Field(15.0, gt=0)
    #: Tries of one sendText within one handling (429/5xx/timeouts), with backoff honouring Retry-After.
    send_attempts: int = Field(4, ge=1)
    send_backoff_initial: float = Field(0.2, ge=0)
    send_backoff_max: float = Field(5.0, ge=0)
    #: Per instance: consecutive failures that open the circuit, and seconds before a half-open probe.
    breaker_failures: int = Field(5, ge=1)
    breaker_recovery_seconds: float = Field(30.0, gt=0)
    #: Handlings of one `message.sent` before it is dead-lettered (the bus's backoff between them).
    reply_max_attempts: int = Field(5, ge=1)
    reply_backoff_initial: float = Field(1.0, ge=0)
    reply_backoff_max: float = Field(60.0, ge=0)
    #: How long a sent element is remembered; must cover the bus's replay window (processed_retention).
    reply_record_ttl: timedelta = timedelta(days=8)
    #: How long a sent message's id is remembered to recognise its echo webhook (``echoes.py``): Evolution
    #: retries a webhook for ~25 minutes at most (10 attempts, 5 s doubling to 300 s, reference §webhook
    #: retries), and a day is the bus's dedupe window for received messages. The send's one record for the
    #: replay window is its outcome (``reply_record_ttl``).
    echo_ttl: timedelta = timedelta(days=1)
    #: A reply element claimed less than this ago by a copy of the reply (same correlation, another event id)
    #: may still be in its call: retried later. Older — or claimed by an earlier handling of the same event,
    #: which the bus's lease says is over — the handling died mid-call: looked up, else an unknown outcome.
    reply_in_flight_seconds: float = Field(120.0, gt=0)
