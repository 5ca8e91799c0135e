"""Our own index of leads, filled from `lead.created`: lead id → what later events of the lead need.

`lead.qualified` and `contract.signed` carry no phone and no click id; asking agent-runtime would couple the
services, so the identifiers are kept here when the lead is created. Only hashes are stored (plus the click
id, which Meta wants unhashed and which identifies an ad click, not a person).
"""

from __future__ import annotations

from datetime import timedelta

from eventbus import Client, Keys, LeadCreated
from pydantic import BaseModel, ConfigDict

from facebook_capi import hashing
from facebook_capi.keys import ServiceKeys


class LeadRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    lead_id: str
    #: SHA-256 of the E.164 digits, of the lead id, of the lower-case country code.
    ph: str | None = None
    external_id: str | None = None
    country: str | None = None
    ctwa_clid: str | None = None
    #: False when the contact refused sharing with ad platforms: none of the lead's events is sent.
    ads_consent: bool | None = None


def phone_of(lead_external_id: str | None) -> str | None:
    """The phone number inside a WhatsApp lead's external id (`wa:+5511999999999`); other channels' ids
    (`ig:…`, `tg:…`) are account ids, not phone numbers."""
    if not lead_external_id:
        return None
    scheme, sep, value = lead_external_id.partition(":")
    if not sep:
        return lead_external_id
    return value if scheme.lower() in ("wa", "whatsapp") else None


def record_from(payload: LeadCreated, *, region: str) -> LeadRecord:
    """Normalize and hash a new lead's identifiers. The country is the phone's own when it has one (a
    foreign number), else the company's."""
    phone = phone_of(payload.lead_external_id)
    digits = hashing.normalize_phone(phone, region=region) if phone else None
    country = (hashing.region_of_phone(digits) if digits else None) or region
    return LeadRecord(
        lead_id=payload.lead_id,
        ph=hashing.sha256_hex(digits) if digits else None,
        external_id=hashing.hashed_external_id(payload.lead_id),
        country=hashing.hashed_country(country),
        ctwa_clid=payload.ctwa_clid or None,
        ads_consent=payload.ads_consent,
    )


class LeadIndex:
    def __init__(self, redis: Client, keys: Keys, *, retention: timedelta) -> None:
        self._redis, self._keys, self._retention = redis, ServiceKeys(keys), retention

    def _key(self, company_id: str, lead_id: str) -> str:
        return self._keys.lead(company_id, lead_id)

    async def put(self, company_id: str, record: LeadRecord) -> None:
        await self._redis.set(
            self._key(company_id, record.lead_id), record.model_dump_json(), ex=self._retention
        )

    async def get(self, company_id: str, lead_id: str) -> LeadRecord | None:
        raw = await self._redis.get(self._key(company_id, lead_id))
        return LeadRecord.model_validate_json(raw) if raw is not None else None
