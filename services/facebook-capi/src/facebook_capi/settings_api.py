"""A company's Conversions API settings as backoffice-api edits them for its operators (``/v1/admin/capi``
there), with backoffice-api's own credential for this service (``CAPI_BACKOFFICE_TOKEN``) or the operators'.

Unlike the operators' ``PUT /v1/companies/{id}/capi`` (a whole configuration), the access token may be left
out of an update: the stored one is kept, so that changing the test event code does not mean handling the
token again. The token never comes back. Every conversion reads the configuration from Redis when it is
sent (companies.py), so a change takes effect at once, without a restart.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import Field, SecretStr
from servicekit import NotFound
from servicekit.credentials import caller

from facebook_capi.api import CompanyId, ConfigsDep
from facebook_capi.companies import CompanyCapiPublic, CompanyCapiSettings

_bearer = HTTPBearer(auto_error=False)


def require_settings_caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    given = f"Bearer {credentials.credentials}" if credentials is not None else None
    state = request.app.state
    caller(given, {"operator": state.admin_token, "backoffice-api": state.backoffice_token})


router = APIRouter(
    prefix="/v1/settings/companies/{company_id}/capi",
    tags=["settings"],
    dependencies=[Depends(require_settings_caller)],
)


class CompanyCapiUpdate(CompanyCapiSettings):
    access_token: SecretStr | None = Field(None, min_length=1)  # type: ignore[assignment]


@router.put("")
async def put_settings(
    company_id: CompanyId, body: CompanyCapiUpdate, configs: ConfigsDep
) -> CompanyCapiPublic:
    """Create or replace the company's settings; `access_token` may be left out once one is stored."""
    token = body.access_token
    if token is None:
        current = await configs.get(company_id)
        if current is None:
            problem = {
                "loc": ("body", "access_token"),
                "msg": "required for a first configuration",
                "type": "missing",
            }
            raise RequestValidationError([problem])
        token = current.access_token
    settings = CompanyCapiSettings.model_validate(body.model_dump() | {"access_token": token})
    return (await configs.put(company_id, settings)).public()


@router.get("")
async def get_settings(company_id: CompanyId, configs: ConfigsDep) -> CompanyCapiPublic:
    config = await configs.get(company_id)
    if config is None:
        raise NotFound(f"company {company_id} has no Conversions API configuration")
    return config.public()
