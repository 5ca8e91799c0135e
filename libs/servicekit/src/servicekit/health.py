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


def router(
    service: str,
    checks: Callable[[], Mapping[str, ReadyCheck]],
    *,
    open_metrics: bool = True,
    metrics_token: SecretStr | None = None,
) -> APIRouter:
    """``checks`` is called per request so that checks registered during startup (the bus) are seen.
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
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "service": service, "checks": results},
            status_code=200 if ready else 503,
        )

    @r.get("/metrics", response_class=PlainTextResponse)
    async def metrics(request: Request) -> Response:
        if metrics_token is not None:
            caller(request.headers.get("authorization"), {"scraper": metrics_token})
        elif not open_metrics:
            raise NotFound("not found")
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return r
