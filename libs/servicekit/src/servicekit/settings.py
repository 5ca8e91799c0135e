"""The settings every service shares; each service subclasses with its own ``env_prefix``."""

from __future__ import annotations

import socket
from datetime import timedelta
from pathlib import Path
from typing import ClassVar, Literal

from eventbus import BusSettings
from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Read from the environment (``REDIS_URL``, ``<PREFIX>_PORT``, …); built by ``__main__``, never at import."""

    # An empty variable is an unset one (subclasses inherit this): compose's `${X:-}` leaves an optional
    # secret unset rather than set to "", which production would refuse.
    model_config = SettingsConfigDict(extra="ignore", env_prefix="SERVICE_", env_ignore_empty=True)

    #: Secret fields a production process cannot start without (``servicekit.secrets``); each service names its own.
    required_secrets: ClassVar[tuple[str, ...]] = ()

    #: ``WOLFGANG_ENV``: ``production`` unless said otherwise. Production refuses to start without its secrets or
    #: with a development value (``servicekit.secrets``) and keeps ``/docs`` and an unguarded ``/metrics`` off;
    #: ``make run`` and the tests say ``development``.
    wolfgang_env: Literal["production", "development"] = Field(
        "production", validation_alias=AliasChoices("wolfgang_env", "WOLFGANG_ENV")
    )
    #: ``<PREFIX>_DOCS``: serve ``/docs`` and ``/openapi.json``; unset, only in development.
    docs: bool | None = None
    #: ``<PREFIX>_METRICS_TOKEN``: the bearer credential of the metrics scraper. Set, ``/metrics`` answers only
    #: to it; unset, ``/metrics`` is open in development and off (404) in production.
    metrics_token: SecretStr | None = None

    redis_url: str = Field(
        "redis://127.0.0.1:6379/0", validation_alias=AliasChoices("redis_url", "REDIS_URL")
    )
    bus_prefix: str = Field("wb", validation_alias=AliasChoices("bus_prefix", "BUS_PREFIX"))
    #: Prefix of the live Pub/Sub channel names; empty in production (``SUBSCRIBE message.received``).
    bus_live_prefix: str = Field("", validation_alias=AliasChoices("bus_live_prefix", "BUS_LIVE_PREFIX"))
    #: Write acknowledgement (docs/cluster.md): replicas that must hold each publish and processed mark.
    bus_ack_replicas: int = Field(
        0, ge=0, validation_alias=AliasChoices("bus_ack_replicas", "BUS_ACK_REPLICAS")
    )
    #: Also wait for the AOF fsync (WAITAOF; Redis ≥ 7.2 / Valkey ≥ 8).
    bus_ack_fsync: bool = Field(False, validation_alias=AliasChoices("bus_ack_fsync", "BUS_ACK_FSYNC"))
    bus_ack_timeout_ms: int = Field(
        1000, gt=0, validation_alias=AliasChoices("bus_ack_timeout_ms", "BUS_ACK_TIMEOUT_MS")
    )
    #: Fernet keys, comma-separated, the first encrypting (servicekit.secretbox): required by the services
    #: that keep secrets in Redis (evolution-manager, facebook-capi).
    secrets_keys: SecretStr | None = Field(
        None, validation_alias=AliasChoices("secrets_keys", "SECRETS_KEYS")
    )
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = Field("INFO", validation_alias=AliasChoices("log_level", "LOG_LEVEL"))
    log_json: bool = Field(True, validation_alias=AliasChoices("log_json", "LOG_JSON"))
    #: Stable per replica (a pod name) so that a restarted process drains its own pending events first.
    consumer_name: str = Field(
        default_factory=socket.gethostname, validation_alias=AliasChoices("consumer_name", "CONSUMER_NAME")
    )
    max_body_bytes: int = 256 * 1024
    #: How long an idle consumer waits on the server for new entries per read (``<PREFIX>_CONSUMER_BLOCK_SECONDS``).
    consumer_block_seconds: float = Field(2.0, gt=0, le=30)
    #: ``PROFILE_DIR``: profile the process with cProfile and write ``<service>.prof`` there when it stops
    #: (``servicekit.profiling``); unset, no profiler.
    profile_dir: Path | None = Field(None, validation_alias=AliasChoices("profile_dir", "PROFILE_DIR"))

    @property
    def development(self) -> bool:
        return self.wolfgang_env == "development"

    @property
    def docs_enabled(self) -> bool:
        return self.development if self.docs is None else self.docs

    def bus_settings(self) -> BusSettings:
        return BusSettings(
            prefix=self.bus_prefix,
            live_prefix=self.bus_live_prefix,
            ack_replicas=self.bus_ack_replicas,
            ack_fsync=self.bus_ack_fsync,
            ack_timeout=timedelta(milliseconds=self.bus_ack_timeout_ms),
        )
