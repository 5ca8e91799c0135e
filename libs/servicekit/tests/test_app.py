import io
import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import httpx
import pytest
import servicekit
import structlog
from eventbus import BusUnavailable, eventlog
from eventbus.eventlog import EventLog
from eventbus.testing import samples
from fastapi import FastAPI
from pydantic import BaseModel
from servicekit import Malformed, NotFound, RateLimited, UpstreamRejected, upstream
from servicekit.logging import UtcClock, configure_logging


@pytest.fixture(autouse=True)
def _root_logger_restored() -> Iterator[None]:
    # configure_logging installs the root handler on pytest's captured stdout of the test that called it; left
    # in place, every later test's records (one pytest process runs every package) went to that closed file
    # ("Logging error ... I/O operation on closed file") or, at INFO, into other tests' output.
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


#: Personal data a caller or an upstream may send: it must reach neither an answer nor a log line.
PHONE = "+55 11 98765-4321"


def refusing_upstream(request: httpx.Request) -> httpx.Response:
    # An upstream's 4xx body echoes what it was sent, as Evolution's and Meta's do.
    return httpx.Response(400, json={"error": f"number {PHONE} is not on WhatsApp"})


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
            "unreadable": Malformed("body is not valid JSON"),
            "limit": RateLimited("slow down", retry_after=7),
            "upstream": UpstreamRejected("400 from API"),
            "bug": RuntimeError("secret internals"),
        }[kind]

    @app.get("/parse")
    async def parse() -> dict:
        return {"count": Body.model_validate({"count": PHONE}).count}  # a bug of ours: 500, logged

    @app.get("/relay")
    async def relay() -> None:
        async with httpx.AsyncClient(
            transport=httpx.MockTransport(refusing_upstream), base_url="http://api"
        ) as http:
            await upstream.call(http, "POST", "/send", api="evolution")

    return app


@contextmanager
def json_logs() -> Iterator[None]:
    """JSON log lines as the services write them, to the test's captured stdout (configured inside the test:
    pytest swaps stdout between a fixture's setup and the test). Loggers are not cached: a module's logger
    cached here would keep writing to this test's stdout after it is closed."""
    configure_logging("test", json=True)
    structlog.configure(cache_logger_on_first_use=False)
    try:
        yield
    finally:
        structlog.reset_defaults()
        eventlog.use_writer(None)


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
        ("unreadable", 400, "malformed"),
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


async def test_validation_errors_name_the_field_and_the_rule_never_the_value(http, capsys) -> None:
    with json_logs():
        answer = await http.post("/echo", json={"count": PHONE})
        crashed = await http.get("/parse")
    lines = capsys.readouterr().out
    assert answer.status_code == 422
    assert answer.json()["error"]["problems"][0] | {"problem": "…"} == {
        "field": "count",
        "rule": "int_parsing",
        "problem": "…",
    }
    assert PHONE not in answer.text
    assert crashed.status_code == 500 and PHONE not in crashed.text
    assert "request_crashed" in lines and "int_parsing" in lines  # the rule stays, the value goes
    assert PHONE not in lines


def test_log_lines_lose_input_values_even_from_a_truncated_repr(capsys) -> None:
    try:
        Body.model_validate({"count": PHONE})
    except ValueError as exc:
        error = exc
    with json_logs():
        log = structlog.get_logger()
        log.warning("event_handler_failed", error=repr(error)[:500])
        log.warning("event_handler_failed", error=repr(error)[: repr(error).index(PHONE) + 5])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    for line in lines:
        assert PHONE[:6] not in json.loads(line)["error"]
        assert "input_value=[hidden]" in json.loads(line)["error"]


async def test_a_502_names_the_upstream_and_its_status_not_its_body(http, capsys) -> None:
    with json_logs():
        answer = await http.get("/relay")
    lines = capsys.readouterr().out
    assert answer.status_code == 502
    assert answer.json()["error"]["message"] == "evolution: HTTP 400"
    assert PHONE not in answer.text and PHONE not in lines


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
        eventlog.use_writer(None)
    assert line["access_token"] == "[redacted]" and line["api_key"] == "[redacted]"
    assert line["service"] == "test" and line["status"] == 200 and line["level"] == "info"


def test_the_bus_line_per_event_is_written_as_the_other_json_lines_with_the_catalogs_seven_fields(
    capsys,
) -> None:
    configure_logging("test", json=True)
    try:
        event = samples.envelope(samples.message_received(), causation_id="evt_cause")
        EventLog("info", 1.0).handled(event, "agent-runtime", attempt=2, seconds=0.0125)
        structlog.get_logger().info("after")  # the same stream, in order
        *_, raw, after = capsys.readouterr().out.strip().splitlines()
    finally:
        structlog.reset_defaults()
        eventlog.use_writer(None)
    line, other = json.loads(raw), json.loads(after)
    assert {k: line[k] for k in ("event.id", "event.type", "event.version", "company_id")} == {
        "event.id": event.id,
        "event.type": "message.received",
        "event.version": 1,
        "company_id": event.company_id,
    }
    assert (line["correlation_id"], line["causation_id"], line["source"]) == (
        event.correlation_id,
        "evt_cause",
        event.source,
    )
    assert line["event"] == "event_handled" and line["group"] == "agent-runtime" and line["attempt"] == 2
    assert line["duration_ms"] == 12.5 and line["service"] == other["service"] == "test"
    assert line["level"] == other["level"] == "info"
    assert line["timestamp"][:11] == other["timestamp"][:11] and line["timestamp"].endswith("Z")


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


def test_the_bus_lines_wait_in_stdouts_buffer_until_the_bus_flushes_them(tmp_path, monkeypatch) -> None:
    """No system call per line: the consumer flushes a batch's lines before its acknowledgements leave."""
    path = tmp_path / "stdout"
    stdout = io.TextIOWrapper(io.BufferedWriter(path.open("wb", buffering=0), buffer_size=1 << 16))
    monkeypatch.setattr(sys, "stdout", stdout)
    configure_logging("test", json=True)
    try:
        log = EventLog("info", 1.0)
        events = [samples.envelope(samples.message_received(i)) for i in range(3)]
        for event in events:
            log.handled(event, "agent-runtime", attempt=1, seconds=0.001)
        assert path.read_bytes() == b""
        log.flush()
        lines = [json.loads(line) for line in path.read_bytes().splitlines()]
    finally:
        structlog.reset_defaults()
        eventlog.use_writer(None)
        stdout.close()
    assert [line["event.id"] for line in lines] == [event.id for event in events]


def test_the_bus_lines_timestamp_is_iso_utc_to_the_millisecond() -> None:
    before = datetime.now(UTC)
    stamp = UtcClock().now()
    after = datetime.now(UTC)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp)
    assert (
        before.replace(microsecond=before.microsecond // 1000 * 1000)
        <= datetime.fromisoformat(stamp)
        <= after
    )
