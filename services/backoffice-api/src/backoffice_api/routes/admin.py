"""The platform operator's door: a company's first operator key, for the setup of a new company.

Every ``/v1`` route needs an API key bound to a company, so a company that has none cannot get one through
them. This route is outside ``/v1``: it takes the platform operator's own credential
(``Authorization: Bearer <BACKOFFICE_ADMIN_TOKEN>``), and it can do one thing only, create a key with a
company's operator scopes (never ``platform:admin``). Without ``BACKOFFICE_ADMIN_TOKEN`` the route answers
401 to everyone: a deployment that does not set it has no such door. ``wolfgang setup`` and ``wolfgang up``'s
demo use it, so that the command line needs no access to backoffice-api's Redis keys.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path
from pydantic import BaseModel, Field
from servicekit.credentials import caller

from backoffice_api.apikeys import SCOPES
from backoffice_api.deps import PortsDep
from backoffice_api.models import ErrorBody

#: What one company's operator may do: every scope but the platform-wide view of all companies.
COMPANY_SCOPES = frozenset(SCOPES) - {"platform:admin"}

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No valid platform operator credential (or none configured)"},
    422: {"model": ErrorBody, "description": "The company id or the body is invalid"},
    503: {"model": ErrorBody, "description": "Redis is unavailable; see Retry-After"},
}

router = APIRouter(prefix="/admin", tags=["admin"], responses=ERRORS)


class OperatorKeyRequest(BaseModel):
    name: str = Field("", max_length=200, description="What the key is for, e.g. 'operator of vendas-01'")


class OperatorKeyCreated(BaseModel):
    key_id: str = Field(examples=["key_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1"])
    company_id: str = Field(examples=["cmp_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1"])
    scopes: list[str]
    api_key: str = Field(description="The key itself: shown in this answer only, stored as a hash")


@router.post(
    "/companies/{company_id}/keys",
    status_code=201,
    summary="Create a company's operator key (platform operator credential; the key is shown once)",
)
async def create_operator_key(
    ports: PortsDep,
    company_id: Annotated[str, Path(pattern=r"^cmp_[0-9A-Za-z]{1,64}$")],
    body: OperatorKeyRequest,
    authorization: Annotated[str | None, Header()] = None,
) -> OperatorKeyCreated:
    caller(authorization, {"operator": ports.settings.admin_token})
    secret, record = await ports.api_keys.create(
        company_id=company_id, scopes=set(COMPANY_SCOPES), name=body.name
    )
    return OperatorKeyCreated(
        key_id=record.key_id, company_id=record.company_id, scopes=sorted(record.scopes), api_key=secret
    )
