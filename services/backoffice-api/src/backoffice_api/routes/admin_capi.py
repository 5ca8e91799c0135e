"""``/v1/admin/capi``: this company's Meta Conversions API settings (the ``admin`` scope). facebook-capi owns
them (companies.py there) and reads them for every conversion it sends, so a change applies to the next one,
without a restart. The access token is write-only: it is never answered, and an update may leave it out to
keep the stored one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, SecretStr
from servicekit import NotFound
from servicekit.upstream import UpstreamRefused

from backoffice_api.apikeys import ApiKey
from backoffice_api.deps import PortsDep, requires
from backoffice_api.models import Strict
from backoffice_api.routes import COMMON_ERRORS, NOT_FOUND, UPSTREAM

router = APIRouter(prefix="/v1/admin/capi", tags=["admin"], responses=COMMON_ERRORS | UPSTREAM)
Admin = Annotated[ApiKey, Depends(requires("admin"))]
_ID = r"^[A-Za-z0-9_.-]{1,64}$"


class CapiSettingsUpdate(Strict):
    pixel_id: str = Field(pattern=_ID, description="Meta dataset (pixel) id", examples=["1234567890"])
    access_token: SecretStr | None = Field(
        None,
        min_length=1,
        max_length=1000,
        description="Conversions API access token: write-only; leave out to keep the stored one (required "
        "the first time)",
        examples=["EAAG…"],
    )
    test_event_code: str | None = Field(
        None, max_length=64, description="Routes events to Events Manager's test tab", examples=["TEST12345"]
    )
    waba_id: str | None = Field(None, pattern=_ID, description="WhatsApp Business Account id")
    enabled: bool = True
    country: str | None = Field(None, pattern=r"^[A-Za-z]{2}$", description="Country of the leads' phones")


class CapiSettings(BaseModel):
    """The settings as stored, without the token."""

    pixel_id: str = Field(examples=["1234567890"])
    test_event_code: str | None = Field(examples=["TEST12345"])
    waba_id: str | None
    enabled: bool
    country: str | None
    updated_at: datetime | None


def _public(row: dict[str, Any]) -> CapiSettings:
    return CapiSettings.model_validate({k: row.get(k) for k in CapiSettings.model_fields})


@router.get("", responses=NOT_FOUND, summary="This company's Conversions API settings (never the token)")
async def get_capi(key: Admin, ports: PortsDep) -> CapiSettings:
    row = await ports.capi.get(key.company_id)
    if row is None:
        raise NotFound("this company has no Conversions API settings")
    return _public(row)


@router.put("", summary="Set this company's Conversions API settings (in effect for the next conversion)")
async def put_capi(body: CapiSettingsUpdate, key: Admin, ports: PortsDep) -> CapiSettings:
    request = body.model_dump(exclude={"access_token"})
    if body.access_token is not None:
        request["access_token"] = body.access_token.get_secret_value()
    try:
        row = await ports.capi.put(key.company_id, request)
    except UpstreamRefused as exc:
        if exc.status == 422:
            raise RequestValidationError(_fields(exc)) from None
        raise
    return _public(row)


def _fields(exc: UpstreamRefused) -> list[dict[str, Any]]:
    """facebook-capi's 422 as ours, naming the same body fields (its messages, never the values)."""
    try:
        problems = exc.response.json()["error"]["problems"] if exc.response is not None else []
    except (ValueError, KeyError, TypeError):
        problems = []
    known = set(CapiSettingsUpdate.model_fields)
    errors = [
        {"loc": ("body", field), "msg": str(p.get("problem", "invalid")), "type": "value_error"}
        for p in problems
        if isinstance(p, dict) and (field := str(p.get("field", "")).rsplit(".", 1)[-1]) in known
    ]
    return errors or [{"loc": ("body",), "msg": "refused by facebook-capi", "type": "value_error"}]
