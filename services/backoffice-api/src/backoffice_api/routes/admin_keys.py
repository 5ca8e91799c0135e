"""``/v1/admin/keys``: a company's API keys, for keys holding the ``admin`` scope (key_admin.py).

A key can only grant scopes it holds itself (an ``admin`` key without ``platform:admin`` cannot make one
with it), and only ever for its own company.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Response
from pydantic import AwareDatetime, BaseModel, Field
from servicekit import Forbidden

from backoffice_api.apikeys import SCOPES, ApiKey
from backoffice_api.deps import InvalidParameter, PortsDep, requires
from backoffice_api.key_admin import IdempotencyKeyReused, Issued, KeyAdmin
from backoffice_api.models import ErrorBody, Strict
from backoffice_api.routes import COMMON_ERRORS, NOT_FOUND

router = APIRouter(prefix="/v1/admin/keys", tags=["admin"], responses=COMMON_ERRORS)
Admin = Annotated[ApiKey, Depends(requires("admin"))]
KeyId = Annotated[str, Path(pattern=r"^key_[0-9A-Z]{26}$", examples=["key_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1"])]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=16,
        max_length=200,
        description="Optional, at least 16 characters (a UUID): a repeat within 24 h answers the first "
        "request's key and secret again; the same key with another body is 422.",
    ),
]
CREATED: dict[int | str, dict[str, Any]] = {
    200: {"description": "A repeat of an Idempotency-Key: the key it made, with the same secret"},
    403: {"model": ErrorBody, "description": "No `admin` scope, or asks for a scope the calling key lacks"},
}


class KeyCreate(Strict):
    name: str = Field("", max_length=120, examples=["vendas-notebook"])
    scopes: list[str] = Field(min_length=1, max_length=len(SCOPES), examples=[["leads:read", "leads:write"]])
    expires_at: AwareDatetime | None = Field(None, description="When the key stops working (none: never)")
    rate_per_minute: int | None = Field(None, ge=1, le=100_000, description="None: the service's default")
    burst: int | None = Field(None, ge=1, le=10_000)


class KeyRecord(BaseModel):
    key_id: str = Field(examples=["key_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1"])
    company_id: str = Field(examples=["cmp_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1"])
    name: str
    scopes: list[str] = Field(examples=[["leads:read", "leads:write"]])
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    rate_per_minute: int | None
    burst: int | None


class KeyIssued(BaseModel):
    key: KeyRecord
    secret: str = Field(
        description="The key itself, for the `X-API-Key` header: shown here only, stored nowhere",
        examples=["wbk_3q2-…"],
    )


class KeysList(BaseModel):
    items: list[KeyRecord]


def _record(key: ApiKey) -> KeyRecord:
    return KeyRecord.model_validate(key.public())


def _issued(issued: Issued, response: Response) -> KeyIssued:
    response.status_code = 201 if issued.created else 200
    return KeyIssued(key=_record(issued.key), secret=issued.secret)


def _admin(ports: PortsDep) -> KeyAdmin:
    return KeyAdmin(ports.api_keys)


@router.post("", status_code=201, responses=CREATED, summary="Create an API key (its secret is shown once)")
async def create_key(
    body: KeyCreate,
    caller: Admin,
    ports: PortsDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> KeyIssued:
    unknown = sorted(set(body.scopes) - set(SCOPES))
    if unknown:
        raise InvalidParameter("scopes", f"unknown scopes: {', '.join(unknown)}; known: {', '.join(SCOPES)}")
    beyond = sorted(set(body.scopes) - caller.scopes)
    if beyond:
        raise Forbidden(f"this API key cannot grant scopes it lacks: {', '.join(beyond)}")
    request = body.model_dump(mode="python") | {"scopes": sorted(set(body.scopes))}
    try:
        issued = await _admin(ports).create(caller.company_id, request, idempotency_key=idempotency_key)
    except IdempotencyKeyReused as exc:
        raise InvalidParameter("Idempotency-Key", str(exc)) from exc
    return _issued(issued, response)


@router.get("", summary="This company's API keys (never their secrets)")
async def list_keys(caller: Admin, ports: PortsDep) -> KeysList:
    keys = await ports.api_keys.all(company_id=caller.company_id)
    return KeysList(items=[_record(k) for k in keys])


@router.delete("/{key_id}", responses=NOT_FOUND, summary="Revoke an API key (at once; safe to repeat)")
async def revoke_key(key_id: KeyId, caller: Admin, ports: PortsDep) -> KeyRecord:
    return _record(await _admin(ports).revoke(caller.company_id, key_id))


@router.post(
    "/{key_id}/rotate",
    status_code=201,
    responses=NOT_FOUND
    | CREATED
    | {409: {"model": ErrorBody, "description": "The key is revoked already (rotated or revoked)"}},
    summary="Replace an API key: a new secret with the same scopes; the old one stops working at once",
)
async def rotate_key(
    key_id: KeyId, caller: Admin, ports: PortsDep, response: Response, idempotency_key: IdempotencyKey = None
) -> KeyIssued:
    try:
        issued = await _admin(ports).rotate(caller.company_id, key_id, idempotency_key=idempotency_key)
    except IdempotencyKeyReused as exc:
        raise InvalidParameter("Idempotency-Key", str(exc)) from exc
    return _issued(issued, response)
