"""evolution-manager configuration, from `EVOLUTION_*` environment variables (and the shared `REDIS_URL`,
`BUS_PREFIX`).
"""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict
from servicekit import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EVOLUTION_", extra="ignore")

    port: int = 8001
