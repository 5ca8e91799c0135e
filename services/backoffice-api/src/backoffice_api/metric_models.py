"""The answer of ``GET /v1/metrics``: counters per time bucket, their totals and the conversion rates."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Bucket = Literal["5m", "15m", "1h"]


class MetricCounts(BaseModel):
    messages_in: int
    messages_out: int
    leads_created: int
    leads_qualified: int
    contracts_created: int
    contracts_signed: int
    conversions_sent: int = Field(0, description="events Meta accepted (facebook-capi's reports)")
    conversions_dry_run: int = Field(0, description="events recorded instead of sent (dry-run mode)")
    conversions_failed: int = Field(0, description="events Meta or our validation refused for good")
    conversions_skipped: int = Field(0, description="events not sent: no consent, no CAPI settings, disabled")
    conversions_unknown: int = Field(0, description="events that may have reached Meta: an operator decides")


class MetricBucket(MetricCounts):
    start: datetime


class ConversionRates(BaseModel):
    """Ratios over the range; null when the denominator is zero."""

    qualification: float | None = Field(description="leads qualified / leads created")
    contract: float | None = Field(description="contracts created / leads qualified")
    signature: float | None = Field(description="contracts signed / contracts created")
    lead_to_won: float | None = Field(description="contracts signed / leads created")


class MetricsReport(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    bucket: Bucket
    from_: datetime | None = Field(alias="from")
    to: datetime | None
    series: list[MetricBucket]
    totals: MetricCounts
    rates: ConversionRates
