"""Per-company Conversions API configuration: set through the admin API (Redis) or a JSON file.

The access token is a `SecretStr` from the moment it is parsed: its repr is `'**********'`, so a log line or
an error message that happens to include the config cannot carry it. It is stored in this service's own Redis
keys encrypted (``servicekit.secretbox``, keys from ``SECRETS_KEYS``), returned by no endpoint and never
published on the bus.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from eventbus import Client, Keys
from eventbus.envelope import UtcTimestamp, now
from pydantic import BaseModel, ConfigDict, Field, SecretStr, TypeAdapter, field_validator
from servicekit.secretbox import SecretBox

from facebook_capi.keys import ServiceKeys
from facebook_capi.mapping import BUSINESS_MESSAGING_EVENTS, ActionSource

_ID = r"^[A-Za-z0-9_.-]{1,64}$"
EventNames = dict[Literal["lead.created", "lead.qualified", "contract.signed"], str]


class CompanyCapiSettings(BaseModel):
    """What an operator sets for one company (the admin API's `PUT` body, a file entry)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pixel_id: str = Field(pattern=_ID, description="Meta pixel / dataset id")
    access_token: SecretStr = Field(min_length=1)
    waba_id: str | None = Field(None, pattern=_ID, description="WhatsApp Business Account id")
    test_event_code: str | None = Field(None, max_length=64)
    enabled: bool = True
    #: Country of the company's leads: the region of national phone numbers and the `country` we send.
    country: str | None = Field(None, pattern=r"^[A-Za-z]{2}$")
    crm_action_source: ActionSource = "chat"
    crm_event_names: EventNames = Field(default_factory=dict)
    messaging_event_names: EventNames = Field(default_factory=dict)

    @field_validator("crm_action_source")
    @classmethod
    def _not_messaging(cls, value: str) -> str:
        if value == "business_messaging":
            raise ValueError("CRM events cannot be business_messaging: they carry no click id")
        return value

    @field_validator("messaging_event_names")
    @classmethod
    def _allowed_names(cls, value: EventNames) -> EventNames:
        refused = sorted(set(value.values()) - BUSINESS_MESSAGING_EVENTS)
        if refused:
            raise ValueError(f"not a business-messaging event name: {', '.join(refused)}")
        return value


class CompanyCapi(CompanyCapiSettings):
    company_id: str
    source: Literal["api", "file"] = "api"
    updated_at: UtcTimestamp | None = None

    def public(self) -> CompanyCapiPublic:
        return CompanyCapiPublic.model_validate(self.model_dump(exclude={"access_token"}))


class CompanyCapiPublic(BaseModel):
    """The config as the admin API returns it: everything but the token."""

    company_id: str
    pixel_id: str
    waba_id: str | None
    test_event_code: str | None
    enabled: bool
    country: str | None
    crm_action_source: str
    crm_event_names: dict[str, str]
    messaging_event_names: dict[str, str]
    source: Literal["api", "file"]
    updated_at: datetime | None


_FILE = TypeAdapter(dict[str, CompanyCapiSettings])


def load_file(path: Path) -> dict[str, CompanyCapi]:
    """Read `CAPI_COMPANIES_FILE`; a malformed file stops the service at startup (ValidationError)."""
    entries = _FILE.validate_json(path.read_bytes())
    return {
        company_id: CompanyCapi(company_id=company_id, source="file", **_with_secret(entry))
        for company_id, entry in entries.items()
    }


def _with_secret(entry: CompanyCapiSettings) -> dict[str, Any]:
    data = entry.model_dump()
    data["access_token"] = entry.access_token  # model_dump keeps the SecretStr; be explicit that it must
    return data


class CompanyConfigs:
    """Lookups by company: the admin API's entry in Redis first, then the file's."""

    def __init__(
        self,
        redis: Client,
        keys: Keys,
        *,
        box: SecretBox,
        from_file: dict[str, CompanyCapi] | None = None,
    ) -> None:
        self._redis, self._keys, self._box = redis, ServiceKeys(keys), box
        self._file = from_file or {}

    def _key(self, company_id: str) -> str:
        return self._keys.company(company_id)

    async def get(self, company_id: str) -> CompanyCapi | None:
        raw = await self._redis.get(self._key(company_id))
        if raw is not None:
            data = json.loads(raw)
            data["access_token"] = self._box.open(data["access_token"])
            return CompanyCapi.model_validate(data)
        return self._file.get(company_id)

    async def put(self, company_id: str, settings: CompanyCapiSettings) -> CompanyCapi:
        config = CompanyCapi(company_id=company_id, source="api", updated_at=now(), **_with_secret(settings))
        data = config.model_dump(mode="json")
        # the only place it is written out, sealed
        data["access_token"] = self._box.seal(config.access_token.get_secret_value())
        await self._redis.set(self._key(company_id), json.dumps(data))
        return config
