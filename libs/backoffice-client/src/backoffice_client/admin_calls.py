"""The contract follow-ups and the administration routes as ``Call``s, and the two clients' methods for them
(mixins, so that ``client.py`` and ``async_client.py`` stay about the rest)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol, TypeVar

from backoffice_client import admin_models as am
from backoffice_client import models
from backoffice_client.calls import Call, _query, _segment

T = TypeVar("T", bound=models.Model)


def _key(given: str | None) -> dict[str, str]:
    return {"Idempotency-Key": given or str(uuid.uuid4())}


def cancel_contract(contract_id: str) -> Call[models.Contract]:
    # The server cancels once; a repeat answers the cancelled contract.
    return Call("POST", f"/v1/contracts/{_segment(contract_id)}/cancel", models.Contract, idempotent=True)


def remind_signers(contract_id: str, *, idempotency_key: str | None = None) -> Call[am.Reminder]:
    """Always with an ``Idempotency-Key`` (a new one unless given): a retry reminds nobody twice."""
    path = f"/v1/contracts/{_segment(contract_id)}/reminders"
    return Call("POST", path, am.Reminder, headers=_key(idempotency_key))


def signed_pdf(contract_id: str) -> Call[am.SignedPdf]:
    return Call("GET", f"/v1/contracts/{_segment(contract_id)}/signed-pdf", am.SignedPdf)


def create_key(
    scopes: Iterable[str],
    *,
    name: str = "",
    expires_at: datetime | None = None,
    rate_per_minute: int | None = None,
    burst: int | None = None,
    idempotency_key: str | None = None,
) -> Call[am.KeyIssued]:
    """Always with an ``Idempotency-Key`` (a new one unless given): a retry answers the same key and secret."""
    body: dict[str, Any] = {"name": name, "scopes": sorted(set(scopes))}
    body |= _query(expires_at=expires_at, rate_per_minute=rate_per_minute, burst=burst)
    return Call("POST", "/v1/admin/keys", am.KeyIssued, json=body, headers=_key(idempotency_key))


def list_keys() -> Call[am.KeysList]:
    return Call("GET", "/v1/admin/keys", am.KeysList)


def revoke_key(key_id: str) -> Call[am.KeyRecord]:
    return Call("DELETE", f"/v1/admin/keys/{_segment(key_id)}", am.KeyRecord)


def rotate_key(key_id: str, *, idempotency_key: str | None = None) -> Call[am.KeyIssued]:
    path = f"/v1/admin/keys/{_segment(key_id)}/rotate"
    return Call("POST", path, am.KeyIssued, headers=_key(idempotency_key))


def connect_instance(name: str, *, number: str | None = None) -> Call[am.Pairing]:
    # While pairing, a repeat answers the current QR code.
    path = f"/v1/instances/{_segment(name)}/connect"
    return Call("POST", path, am.Pairing, _query(number=number), idempotent=True)


def refresh_instance(name: str) -> Call[am.InstanceRefreshed]:
    path = f"/v1/instances/{_segment(name)}/refresh"
    return Call("POST", path, am.InstanceRefreshed, idempotent=True)


def remove_instance(name: str) -> Call[models.Instance]:
    return Call("DELETE", f"/v1/instances/{_segment(name)}", models.Instance)


def get_capi_settings() -> Call[am.CapiSettings]:
    return Call("GET", "/v1/admin/capi", am.CapiSettings)


def put_capi_settings(
    pixel_id: str,
    *,
    access_token: str | None = None,
    test_event_code: str | None = None,
    waba_id: str | None = None,
    enabled: bool = True,
    country: str | None = None,
) -> Call[am.CapiSettings]:
    """``access_token`` left out keeps the stored one (required the first time)."""
    body = {"pixel_id": pixel_id, "enabled": enabled} | _query(
        access_token=access_token, test_event_code=test_event_code, waba_id=waba_id, country=country
    )
    return Call("PUT", "/v1/admin/capi", am.CapiSettings, json=body)


class _Sends(Protocol):
    def send(self, call: Call[T]) -> T: ...


class _SendsAsync(Protocol):
    async def send(self, call: Call[T]) -> T: ...


class AdminMethods:
    """``BackofficeClient``'s contract follow-ups and administration."""

    def cancel_contract(self: _Sends, contract_id: str) -> models.Contract:
        return self.send(cancel_contract(contract_id))

    def remind_signers(self: _Sends, contract_id: str, *, idempotency_key: str | None = None) -> am.Reminder:
        return self.send(remind_signers(contract_id, idempotency_key=idempotency_key))

    def signed_pdf(self: _Sends, contract_id: str) -> am.SignedPdf:
        return self.send(signed_pdf(contract_id))

    def create_key(self: _Sends, scopes: Iterable[str], **options: Any) -> am.KeyIssued:
        return self.send(create_key(scopes, **options))

    def list_keys(self: _Sends) -> list[am.KeyRecord]:
        return self.send(list_keys()).items

    def revoke_key(self: _Sends, key_id: str) -> am.KeyRecord:
        return self.send(revoke_key(key_id))

    def rotate_key(self: _Sends, key_id: str, *, idempotency_key: str | None = None) -> am.KeyIssued:
        return self.send(rotate_key(key_id, idempotency_key=idempotency_key))

    def connect_instance(self: _Sends, name: str, *, number: str | None = None) -> am.Pairing:
        return self.send(connect_instance(name, number=number))

    def refresh_instance(self: _Sends, name: str) -> am.InstanceRefreshed:
        return self.send(refresh_instance(name))

    def remove_instance(self: _Sends, name: str) -> models.Instance:
        return self.send(remove_instance(name))

    def get_capi_settings(self: _Sends) -> am.CapiSettings:
        return self.send(get_capi_settings())

    def put_capi_settings(self: _Sends, pixel_id: str, **options: Any) -> am.CapiSettings:
        return self.send(put_capi_settings(pixel_id, **options))


class AsyncAdminMethods:
    """``AsyncBackofficeClient``'s contract follow-ups and administration (the same, awaited)."""

    async def cancel_contract(self: _SendsAsync, contract_id: str) -> models.Contract:
        return await self.send(cancel_contract(contract_id))

    async def remind_signers(
        self: _SendsAsync, contract_id: str, *, idempotency_key: str | None = None
    ) -> am.Reminder:
        return await self.send(remind_signers(contract_id, idempotency_key=idempotency_key))

    async def signed_pdf(self: _SendsAsync, contract_id: str) -> am.SignedPdf:
        return await self.send(signed_pdf(contract_id))

    async def create_key(self: _SendsAsync, scopes: Iterable[str], **options: Any) -> am.KeyIssued:
        return await self.send(create_key(scopes, **options))

    async def list_keys(self: _SendsAsync) -> list[am.KeyRecord]:
        return (await self.send(list_keys())).items

    async def revoke_key(self: _SendsAsync, key_id: str) -> am.KeyRecord:
        return await self.send(revoke_key(key_id))

    async def rotate_key(
        self: _SendsAsync, key_id: str, *, idempotency_key: str | None = None
    ) -> am.KeyIssued:
        return await self.send(rotate_key(key_id, idempotency_key=idempotency_key))

    async def connect_instance(self: _SendsAsync, name: str, *, number: str | None = None) -> am.Pairing:
        return await self.send(connect_instance(name, number=number))

    async def refresh_instance(self: _SendsAsync, name: str) -> am.InstanceRefreshed:
        return await self.send(refresh_instance(name))

    async def remove_instance(self: _SendsAsync, name: str) -> models.Instance:
        return await self.send(remove_instance(name))

    async def get_capi_settings(self: _SendsAsync) -> am.CapiSettings:
        return await self.send(get_capi_settings())

    async def put_capi_settings(self: _SendsAsync, pixel_id: str, **options: Any) -> am.CapiSettings:
        return await self.send(put_capi_settings(pixel_id, **options))
