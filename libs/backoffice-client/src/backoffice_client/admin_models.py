"""Answers of the contract follow-ups and the administration routes (``/v1/admin``, instance pairing)."""

from __future__ import annotations

from datetime import datetime

from backoffice_client.models import Instance, Model


class Reminder(Model):
    contract_id: str
    #: Signers asked to sign again (those who had not signed).
    signers: int


class SignedPdf(Model):
    contract_id: str
    url: str


class KeyRecord(Model):
    key_id: str
    company_id: str
    name: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    rate_per_minute: int | None
    burst: int | None


class KeyIssued(Model):
    key: KeyRecord
    #: The key itself (for ``api_key=``): shown in this answer only.
    secret: str


class KeysList(Model):
    items: list[KeyRecord]


class Pairing(Model):
    name: str
    #: ``open`` (paired) or ``connecting`` (scan ``qr_code`` or type ``pairing_code``).
    state: str
    qr_code: str | None = None
    qr_text: str | None = None
    pairing_code: str | None = None
    count: int = 0


class InstanceRefreshed(Instance):
    state: str
    changed: bool


class CapiSettings(Model):
    pixel_id: str
    test_event_code: str | None
    waba_id: str | None
    enabled: bool
    country: str | None
    updated_at: datetime | None


#: Each model and the backoffice-api schema it reads (pinned by the tests against contracts/openapi/).
SCHEMAS: dict[type[Model], str] = {
    Reminder: "Reminder",
    SignedPdf: "SignedPdf",
    KeyRecord: "KeyRecord",
    KeyIssued: "KeyIssued",
    KeysList: "KeysList",
    Pairing: "Pairing",
    InstanceRefreshed: "Refreshed",
    CapiSettings: "CapiSettings",
}
