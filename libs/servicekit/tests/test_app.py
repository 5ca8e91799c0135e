import json

import httpx
import pytest
import servicekit
import structlog
from eventbus import BusUnavailable
from fastapi import FastAPI
from pydantic import BaseModel
from servicekit import NotFound, RateLimited, UpstreamRejected
from servicekit.logging import configure_logging


class Body(BaseModel):
    count: int


def make_app() -> FastAPI:
    app = FastAPI()
    servicekit.install(app, service="test", max_body_bytes=100)

    @app.post("/echo")
    async def echo(body: Body) -> dict:
        return {"count": body.count}

    @app.get("/raise/{kind}")
    async def raise_(kind: str) -> None:
        raise {
            "missing": NotFound("lead not found"),
            "bus": BusUnavailable("redis down"),
            "limit": RateLimited("slow down", retry_after=7),
            "upstream": UpstreamRejected("400 from API"),
            "bug": RuntimeError("secret internals"),
        }[kind]

    return app


@pytest.fixture
async def http():
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=make_app(), raise_app_exceptions=False), base_url="http://t"
    ) as client:
        yield client


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("missing", 404, "not_found"),
        ("bus", 503, "unavailable"),
        ("limit", 429, "rate_limited"),
        ("upstream", 502, "upstream_unavailable"),
        ("bug", 500, "error"),
    ],
)
async def test_errors_map_to_their_status_once(http, kind: str, status: int, code: str) -> None:
    answer = await http.get(f"/raise/{kind}")
    assert answer.status_code == status and answer.json()["error"]["code"] == code
    assert "secret internals" not in answer.text and "Traceback" not in answer.text


async def test_bus_unavailable_tells_the_sender_when_to_retry(http) -> None:
    assert (await http.get("/raise/bus")).headers["retry-after"] == "5"
    assert (await http.get("/raise/limit")).headers["retry-after"] == "7"


async def test_validation_errors_name_the_field(http) -> None:
    answer = await http.post("/echo", json={"count": "many"})
    assert answer.status_code == 422
    assert answer.json()["error"]["problems"][0]["field"] == "count"


async def test_malformed_json_is_a_4xx(http) -> None:
    answer = await http.post("/echo", content=b"{not json", headers={"content-type": "application/json"})
    assert answer.status_code == 422


async def test_oversized_bodies_are_refused_with_413_declared_or_not(http) -> None:
    big = json.dumps({"count": 1, "pad": "x" * 500}).encode()
    assert (
        await http.post("/echo", content=big, headers={"content-type": "application/json"})
    ).status_code == 413

    async def chunks():
        yield big[:50]
        yield big[50:]

    streamed = await http.post("/echo", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413


def test_secrets_bound_to_a_log_line_are_redacted(capsys) -> None:
    configure_logging("test", json=True)
    try:
        structlog.get_logger().info("called_api", access_token="EAAB-secret", api_key="k-123", status=200)
        line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    finally:
        structlog.reset_defaults()
    assert line["access_token"] == "[redacted]" and line["api_key"] == "[redacted]"
    assert line["service"] == "test" and line["status"] == 200 and line["level"] == "info"


async def test_readyz_says_degraded_with_the_reason_while_staying_ready() -> None:
    app = make_app()
    reason: dict[str, str | None] = {"now": None}

    async def ok() -> bool:
        return True

    async def consumer_degraded() -> str | None:
        return reason["now"]

    app.state.ready_checks["consumer"] = ok
    app.state.degraded_checks["consumer"] = consumer_degraded
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        fine = await client.get("/readyz")
        reason["now"] = "message.received: 2000 unread events dropped at the stream's ceiling"
        degraded = await client.get("/readyz")
    assert fine.status_code == 200 and fine.json()["status"] == "ready" and "degraded" not in fine.json()
    assert degraded.status_code == 200  # it still does its job: load balancers keep it
    assert degraded.json()["status"] == "degraded"
    assert degraded.json()["degraded"] == {"consumer": reason["now"]}
