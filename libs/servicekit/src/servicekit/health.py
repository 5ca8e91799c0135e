"""``/healthz`` (the process is alive), ``/readyz`` (it can do its job now) and ``/metrics`` (Prometheus).

``/metrics`` tells how busy each company's instances and pixels are and which groups lag: with a scraper
credential (``<PREFIX>_METRICS_TOKEN``) it answers only to that bearer; without one it is open in development
and absent (404) in production. Health and readiness say nothing of the kind and stay open for probes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import SecretStr

from servicekit.credentials import caller
from servicekit.errors import NotFound

ReadyCheck = Callable[[], Awaitable[bool]]
#: Why the service is degraded though ready (it answers, but something it promises is not whole), or None.
DegradedCheck = Callable[[], Awaitable[str | None]]


def router(
    service: str,
    checks: Callable[[], Mapping[str, ReadyCheck]],
    degraded: Callable[[], Mapping[str, DegradedCheck]] = dict,
    *,
    open_metrics: bool = True,
    metrics_token: SecretStr | None = None,
) -> APIRouter:
    """``checks`` and ``degraded`` are called per request so that checks registered during startup (the bus, the
    consumer) are seen. A ready service with a degraded check answers 200 with status ``degraded`` and the
    reasons: it can do its job, and someone should look (the consumer lost events at a stream's ceiling).
    ``open_metrics`` False answers 404 on ``/metrics``; a ``metrics_token`` makes it require that bearer."""
    r = APIRouter(tags=["operations"])

    @r.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @r.get("/readyz")
    async def readyz() -> JSONResponse:
        results: dict[str, bool] = {}
        for name, check in checks().items():
            try:
                results[name] = await check()
            except Exception:
                results[name] = False
        ready = all(results.values())
        reasons: dict[str, str] = {}
        for name, check_degraded in degraded().items():
            try:
                reason = await check_degraded()
            except Exception:
                reason = "check failed"
            if reason:
                reasons[name] = reason
        body: dict[str, object] = {
            "status": "ready" if ready else "not_ready",
            "service": service,
            "checks": results,
        }
        if reasons:
            body["degraded"] = reasons
            if ready:
                body["status"] = "degraded"
        return JSONResponse(body, status_code=200 if ready else 503)

    @r.get("/metrics", response_class=PlainTextResponse)
    async def metrics(request: Request) -> Response:
        if metrics_token is not None:
            caller(request.headers.get("authorization"), {"scraper": metrics_token})
        elif not open_metrics:
            raise NotFound("not found")
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return r
