"""Admin API (port 8003): per-company CAPI configuration, its counters, and dry-run requests.

Auth: `Authorization: Bearer <CAPI_ADMIN_TOKEN>` (the brief's contract). The access token is write-only.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from servicekit import NotFound
from servicekit.credentials import caller

from facebook_capi.companies import CompanyCapiPublic, CompanyCapiSettings, CompanyConfigs
from facebook_capi.delivery import DryRunLog
from facebook_capi.stats import Stats

_bearer = HTTPBearer(auto_error=False)
CompanyId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


def require_admin(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    given = f"Bearer {credentials.credentials}" if credentials is not None else None
    caller(given, {"operator": request.app.state.admin_token})


def require_outcomes_caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """The unknown outcomes (servicekit.outcome_routes): the platform operators or backoffice-api."""
    given = f"Bearer {credentials.credentials}" if credentials is not None else None
    state = request.app.state
    caller(given, {"operator": state.admin_token, "backoffice-api": state.backoffice_token})


router = APIRouter(prefix="/v1", dependencies=[Depends(require_admin)], tags=["admin"])


def _configs(request: Request) -> CompanyConfigs:
    configs: CompanyConfigs = request.app.state.ports.companies
    return configs


def _stats(request: Request) -> Stats:
    stats: Stats = request.app.state.ports.stats
    return stats


def _dry_run(request: Request) -> DryRunLog:
    log: DryRunLog | None = request.app.state.ports.dry_run_log
    assert log is not None, "create_app always gives Ports its dry-run log"
    return log


ConfigsDep = Annotated[CompanyConfigs, Depends(_configs)]


class CompanyStats(BaseModel):
    company_id: str
    counts: dict[str, int]


@router.put("/companies/{company_id}/capi")
async def put_company_capi(
    company_id: CompanyId, body: CompanyCapiSettings, configs: ConfigsDep
) -> CompanyCapiPublic:
    return (await configs.put(company_id, body)).public()


@router.get("/companies/{company_id}/capi")
async def get_company_capi(company_id: CompanyId, configs: ConfigsDep) -> CompanyCapiPublic:
    config = await configs.get(company_id)
    if config is None:
        raise NotFound(f"company {company_id} has no Conversions API configuration")
    return config.public()


@router.get("/companies/{company_id}/capi/stats")
async def get_company_stats(company_id: CompanyId, stats: Annotated[Stats, Depends(_stats)]) -> CompanyStats:
    return CompanyStats(company_id=company_id, counts=await stats.of(company_id))


@router.get("/dry-run/requests")
async def list_dry_run_requests(
    dry_run: Annotated[DryRunLog, Depends(_dry_run)], limit: Annotated[int, Query(ge=1, le=1000)] = 50
) -> list[dict[str, Any]]:
    return await dry_run.latest(limit)
