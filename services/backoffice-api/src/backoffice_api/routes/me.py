"""The caller's own key: which company it acts for and what it may do (the console shows only that)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from servicekit import Unauthenticated

from backoffice_api.apikeys import ApiKey
from backoffice_api.deps import api_key_header
from backoffice_api.routes import COMMON_ERRORS

router = APIRouter(prefix="/v1/me", tags=["keys"], responses=COMMON_ERRORS)


class KeyPublic(BaseModel):
    key_id: str = Field(examples=["key_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1"])
    company_id: str = Field(examples=["cmp_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1"])
    name: str
    scopes: list[str] = Field(examples=[["leads:read", "leads:write"]])


async def _principal(request: Request, _: Annotated[str | None, Depends(api_key_header)]) -> ApiKey:
    key: ApiKey | None = getattr(request.state, "principal", None)
    if key is None:
        raise Unauthenticated("missing X-API-Key header")
    return key


@router.get("", summary="The calling key: its company and scopes (any usable key may ask)")
async def me(key: Annotated[ApiKey, Depends(_principal)]) -> KeyPublic:
    return KeyPublic(key_id=key.key_id, company_id=key.company_id, name=key.name, scopes=sorted(key.scopes))
