"""Metrics: counters per 5m / 15m / 1h bucket over a time range, with totals and conversion rates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from backoffice_api.counters import RangeTooLarge
from backoffice_api.deps import InvalidParameter, MetricsRead, PortsDep
from backoffice_api.metric_models import Bucket, MetricsReport
from backoffice_api.routes import COMMON_ERRORS

router = APIRouter(prefix="/v1/metrics", tags=["metrics"], responses=COMMON_ERRORS)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


@router.get("", response_model_by_alias=True, summary="Counters per bucket, totals and conversion rates")
async def metrics(
    key: MetricsRead,
    ports: PortsDep,
    bucket: Bucket = "1h",
    since: Annotated[
        datetime | None, Query(alias="from", description="inclusive; default: 24 h before `to`")
    ] = None,
    until: Annotated[datetime | None, Query(alias="to", description="exclusive; default: now")] = None,
) -> MetricsReport:
    end = _utc(until) if until is not None else datetime.now(UTC)
    start = _utc(since) if since is not None else end - timedelta(days=1)
    if start < EPOCH:
        raise InvalidParameter("from", "must not be before 1970-01-01")
    if end < start:
        raise InvalidParameter("to", "must not be before from")
    try:
        report = await ports.reports.report(key.company_id, bucket, start, end)
    except RangeTooLarge as exc:
        raise InvalidParameter("from", str(exc)) from None
    return MetricsReport.model_validate(report)
