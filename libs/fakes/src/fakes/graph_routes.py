"""The fake Graph API's Conversions API route (``fakes.graph``'s docstring lists what it mimics) and its control
routes under ``/_fake``; the state they act on is ``request.app.state.fake``."""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from fakes.control import Failure, state_of
from fakes.graph_state import (
    GraphApiError,
    GraphState,
    ReceivedEvent,
    fbtrace_id,
    graph_error_body,
    validate_events,
)

router = APIRouter()
#: Not part of the real API: driving the fake from a test or a demo.
control = APIRouter()


def render_failure(failure: Failure) -> tuple[int, Any, dict[str, str]]:
    status = failure.status or 500
    code = failure.code
    if code is None:
        by_status = {400: 100, 401: 190, 429: 4, 500: 1}
        code = by_status.get(status, 2 if status >= 500 else 100)
    headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
    return status, graph_error_body(code, subcode=failure.subcode), headers


async def _params(request: Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query_params)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        params.update({k: v for k, v in (await request.form()).items() if isinstance(v, str)})
    elif await request.body():
        try:
            body = json.loads(await request.body())
        except ValueError as exc:
            raise GraphApiError(400, graph_error_body(100, "(#100) Invalid JSON body")) from exc
        if isinstance(body, dict):
            params.update(body)
    return params


@router.post("/{version}/{pixel_id}/events", response_model=None)
async def events(version: str, pixel_id: str, request: Request) -> JSONResponse:
    fake = state_of(request, GraphState)
    try:
        params = await _params(request)
        auth = request.headers.get("authorization", "")
        token = params.get("access_token") or (auth[7:] if auth.lower().startswith("bearer ") else None)
        if not token or token not in fake.pixels.values():
            raise GraphApiError(401, graph_error_body(190))
        if pixel_id not in fake.pixels:
            message = (
                f"Unsupported post request. Object with ID '{pixel_id}' does not exist, cannot be loaded "
                "due to missing permissions, or does not support this operation. Please read the Graph "
                "API documentation at https://developers.facebook.com/docs/graph-api"
            )
            raise GraphApiError(
                400, graph_error_body(100, message, subcode=33, error_type="GraphMethodException")
            )
        if fake.pixels[pixel_id] != token:
            raise GraphApiError(401, graph_error_body(190))
        data = params.get("data")
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError:
                data = None
        if data is not None and not isinstance(data, list):
            raise GraphApiError(400, graph_error_body(100, "(#100) param data must be an array."))
        accepted = validate_events(
            data or [],
            future_tolerance=fake.future_tolerance_seconds,
            invalid_ctwa_clids=fake.invalid_ctwa_clids,
        )
    except GraphApiError as exc:
        return exc.response()
    trace = fbtrace_id()
    received = fake.events.setdefault(pixel_id, [])
    test_code = params.get("test_event_code")
    for event in accepted:
        received.append(ReceivedEvent(pixel_id, version, event, test_code, trace, time.time()))
    missing = fake.under_report.pop(0) if fake.under_report else 0
    counted = max(0, len(accepted) - missing)
    return JSONResponse({"events_received": counted, "messages": [], "fbtrace_id": trace})


@control.get("/_fake/events")
async def list_events(request: Request, pixel_id: str | None = None) -> list[dict[str, Any]]:
    fake = state_of(request, GraphState)
    return [
        {
            "pixel_id": r.pixel_id,
            "version": r.version,
            "event": r.event,
            "test_event_code": r.test_event_code,
            "fbtrace_id": r.fbtrace_id,
            "received_at": r.received_at,
        }
        for pid, received in fake.events.items()
        if pixel_id in (None, pid)
        for r in received
    ]


@control.get("/_fake/pixels")
async def list_pixels(request: Request) -> dict[str, str]:
    fake = state_of(request, GraphState)
    return fake.pixels


@control.post("/_fake/pixels")
async def add_pixel(request: Request) -> dict[str, bool]:
    fake = state_of(request, GraphState)
    body = await request.json()
    fake.add_pixel(str(body["pixel_id"]), str(body["access_token"]))
    return {"ok": True}
