"""Fake Meta Graph API: the Conversions API endpoint `POST /{version}/{pixel_id}/events`.

Mimics, per /work/shared/reference/facebook-capi.md:
- token from `access_token` (query, form or JSON body) or `Authorization: Bearer`; wrong/missing → HTTP 401
  `OAuthException` code 190 (§1, §7, §9);
- JSON or form bodies, `data` items as objects or JSON strings (the Python SDK's form) (§1);
- whole-batch rejection: 1..1000 events, required server-event fields, `action_source` enum, `event_time`
  at most 7 days old (code 100 / subcode 2804003, the documented body) and not in the future (§1, §8);
- `business_messaging`: `messaging_channel`, the allowed event names (`Lead` → 100 / 2804066),
  `whatsapp_business_account_id` + `ctwa_clid` for WhatsApp, invalid `ctwa_clid` → 100 / 2804087 (§2);
- hashed `user_data` keys must be 64-char lowercase hex SHA-256, never-hash keys must not be (§3, §9);
- `Purchase` needs `custom_data.currency` and `value` (§5, §9);
- success `{"events_received", "messages": [], "fbtrace_id"}` and the error body `{"error": {message, type,
  code, error_subcode?, is_transient, error_user_title?, error_user_msg?, fbtrace_id}}`,
  injectable error classes: rate limits 4/17/32/341/613/80004, transient 1/2, 190, 100, HTTP 5xx (§7).
An unknown pixel answers Graph's usual code 100 / subcode 33 "Unsupported post request" (not in the
reference).

Control routes: `/_fake/requests`, `/_fake/reset`, `/_fake/fail` (also takes `code`/`subcode`),
`/_fake/recover`, `GET /_fake/events[?pixel_id=]`, `GET|POST /_fake/pixels` (`{pixel_id, access_token}`).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from fakes.control import Failure, FakeControlMiddleware, FakeState, control_router

__all__ = [
    "ACTION_SOURCES",
    "BUSINESS_MESSAGING_EVENTS",
    "GraphApiError",
    "GraphState",
    "ReceivedEvent",
    "create_app",
    "graph_error_body",
    "validate_events",
]

ACTION_SOURCES = frozenset(
    {
        "email",
        "website",
        "app",
        "phone_call",
        "chat",
        "physical_store",
        "system_generated",
        "business_messaging",
        "other",
    }
)
BUSINESS_MESSAGING_EVENTS = frozenset(
    {
        "Purchase",
        "LeadSubmitted",
        "InitiateCheckout",
        "AddToCart",
        "ViewContent",
        "OrderCreated",
        "OrderShipped",
        "OrderDelivered",
        "OrderCanceled",
        "OrderReturned",
        "CartAbandoned",
        "QualifiedLead",
        "RatingProvided",
        "ReviewProvided",
    }
)
MESSAGING_CHANNELS = frozenset({"whatsapp", "messenger", "instagram"})
HASHED_KEYS = frozenset({"em", "ph", "fn", "ln", "ge", "db", "ct", "st", "zp", "country"})
NEVER_HASHED_KEYS = frozenset(
    {
        "client_ip_address",
        "client_user_agent",
        "fbc",
        "fbp",
        "ctwa_clid",
        "page_id",
        "page_scoped_user_id",
        "lead_id",
        "subscription_id",
        "fb_login_id",
        "anon_id",
        "madid",
        "ig_account_id",
        "ig_sid",
        "whatsapp_business_account_id",
    }
)
TRANSIENT_CODES = frozenset({1, 2, 4, 17, 32, 341, 613, *range(80000, 80015)})
SEVEN_DAYS = 7 * 24 * 3600
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_MESSAGES = {
    1: "An unknown error occurred",
    2: "An unexpected error has occurred. Please retry your request later.",
    4: "(#4) Application request limit reached",
    17: "(#17) User request limit reached",
    32: "(#32) Page request limit reached",
    100: "Invalid parameter",
    190: "Invalid OAuth access token - Cannot parse access token",
    341: "(#341) Application limit reached",
    368: "The action attempted has been deemed abusive or is otherwise disallowed",
    613: "(#613) Calls to this api have exceeded the rate limit.",
    80004: "(#80004) There have been too many calls to this ad-account. Wait a bit and try again.",
}


def _fbtrace_id() -> str:
    return "A" + secrets.token_urlsafe(20)[:26]


def graph_error_body(
    code: int,
    message: str | None = None,
    *,
    subcode: int | None = None,
    error_type: str = "OAuthException",
    title: str | None = None,
    user_msg: str | None = None,
) -> dict[str, Any]:
    error: dict[str, Any] = {
        "message": message or _MESSAGES.get(code, "An unknown error occurred"),
        "type": error_type,
        "code": code,
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    error["is_transient"] = code in TRANSIENT_CODES
    if title is not None:
        error["error_user_title"] = title
    if user_msg is not None:
        error["error_user_msg"] = user_msg
    error["fbtrace_id"] = _fbtrace_id()
    return {"error": error}


class GraphApiError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body["error"]["message"])
        self.status, self.body = status, body

    def response(self) -> JSONResponse:
        return JSONResponse(self.body, status_code=self.status)


def _invalid(title: str, user_msg: str, subcode: int | None = None) -> GraphApiError:
    return GraphApiError(400, graph_error_body(100, subcode=subcode, title=title, user_msg=user_msg))


def _values(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _check_user_data(i: int, user_data: dict[str, Any]) -> None:
    for key, value in user_data.items():
        for item in _values(value):
            hashed = isinstance(item, str) and bool(_SHA256_HEX.match(item))
            if key in HASHED_KEYS and not hashed:
                raise _invalid(
                    "Invalid User Data Hash",
                    f"data[{i}].user_data.{key} must be a SHA-256 hash: 64 lowercase hex characters.",
                )
            if key in NEVER_HASHED_KEYS and hashed:
                raise _invalid("Hashed Value Not Allowed", f"data[{i}].user_data.{key} must not be hashed.")


def validate_events(
    events: list[Any],
    *,
    now: float | None = None,
    future_tolerance: float = 300.0,
    invalid_ctwa_clids: frozenset[str] | set[str] = frozenset(),
) -> list[dict[str, Any]]:
    """Parse and check a `data` list as CAPI does; raise GraphApiError for the first bad event."""
    if not events:
        raise GraphApiError(400, graph_error_body(100, "(#100) The parameter data is required"))
    if len(events) > 1000:
        raise GraphApiError(400, graph_error_body(100, "(#100) data: Array size exceeds the maximum of 1000"))
    moment = time.time() if now is None else now
    parsed: list[dict[str, Any]] = []
    for i, raw in enumerate(events):
        try:
            event = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            event = None
        if not isinstance(event, dict):
            raise _invalid("Invalid Event", f"data[{i}] must be an object.")
        for required in ("event_name", "event_time", "action_source", "user_data"):
            if event.get(required) in (None, "", {}):
                raise _invalid("Missing Parameter", f"data[{i}].{required} is required.")
        event_time = event["event_time"]
        if isinstance(event_time, str) and event_time.isdigit():
            event_time = int(event_time)
        if not isinstance(event_time, int) or isinstance(event_time, bool):
            raise _invalid("Invalid Event Time", f"data[{i}].event_time must be a unix timestamp in seconds.")
        if event_time < moment - SEVEN_DAYS:
            raise _invalid(
                "Event Timestamp Too Old",
                "The timestamp for this event is too far in the past. Events need to be sent from your "
                "server within 7 days of when they occurred.",
                2804003,
            )
        if event_time > moment + future_tolerance:
            raise _invalid("Event Timestamp In Future", f"data[{i}].event_time is in the future.")
        source = event["action_source"]
        if source not in ACTION_SOURCES:
            raise _invalid("Invalid Action Source", f"data[{i}].action_source {source!r} is not supported.")
        user_data = event["user_data"]
        if not isinstance(user_data, dict):
            raise _invalid("Invalid User Data", f"data[{i}].user_data must be an object.")
        if source == "business_messaging":
            channel = event.get("messaging_channel")
            if channel not in MESSAGING_CHANNELS:
                raise _invalid(
                    "Invalid Messaging Channel",
                    f"data[{i}].messaging_channel is required for business_messaging events.",
                )
            if event["event_name"] not in BUSINESS_MESSAGING_EVENTS:
                raise _invalid(
                    "Messaging Event Invalid Event Type",
                    f"{event['event_name']} is not a supported event for business messaging.",
                    2804066,
                )
            if channel == "whatsapp":
                for key in ("whatsapp_business_account_id", "ctwa_clid"):
                    if not user_data.get(key):
                        raise _invalid(
                            "Missing User Data",
                            f"data[{i}].user_data.{key} is required for WhatsApp business messaging.",
                        )
                if user_data["ctwa_clid"] in invalid_ctwa_clids:
                    raise _invalid("Invalid ctwa_clid", "The ctwa_clid provided is invalid.", 2804087)
        if source == "website" and not event.get("event_source_url"):
            raise _invalid("Missing Parameter", f"data[{i}].event_source_url is required for website events.")
        _check_user_data(i, user_data)
        if event["event_name"] == "Purchase":
            custom: dict[str, Any] = (
                event["custom_data"] if isinstance(event.get("custom_data"), dict) else {}
            )
            if not isinstance(custom.get("value"), int | float) or not isinstance(
                custom.get("currency"), str
            ):
                raise _invalid(
                    "Missing Purchase Value",
                    f"data[{i}]: Purchase events need custom_data.value and custom_data.currency.",
                )
        parsed.append(event)
    return parsed


@dataclass
class ReceivedEvent:
    pixel_id: str
    version: str
    event: dict[str, Any]
    test_event_code: str | None
    fbtrace_id: str
    received_at: float


@dataclass
class GraphState(FakeState):
    # pixel (dataset) id -> the access token allowed to write to it
    pixels: dict[str, str] = field(default_factory=dict)
    events: dict[str, list[ReceivedEvent]] = field(default_factory=dict)
    future_tolerance_seconds: float = 300.0
    invalid_ctwa_clids: set[str] = field(default_factory=set)
    # Per coming accepted request: how many events to leave out of `events_received` (reference §10: a switch
    # for answers that account for fewer events than were sent). Every event is still recorded as received.
    under_report: list[int] = field(default_factory=list)

    def under_report_next(self, missing: int = 1) -> None:
        self.under_report.append(missing)

    def add_pixel(self, pixel_id: str, access_token: str) -> None:
        self.pixels[pixel_id] = access_token

    def events_for(self, pixel_id: str) -> list[dict[str, Any]]:
        return [r.event for r in self.events.get(pixel_id, [])]

    def fail_with_code(
        self, code: int, count: int | None = 1, *, subcode: int | None = None, status: int | None = None
    ) -> None:
        """Queue a Graph error class. HTTP status defaults: 190 → 401, 1 → 500, 2 → 503, others 400
        (the reference does not give the status of throttling errors)."""
        self.fail_next(status or {190: 401, 1: 500, 2: 503}.get(code, 400), count, code=code, subcode=subcode)

    def reset(self) -> None:
        super().reset()
        self.events.clear()
        self.under_report.clear()


def _render_failure(failure: Failure) -> tuple[int, Any, dict[str, str]]:
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


def create_app(state: GraphState | None = None) -> FastAPI:
    fake = state if state is not None else GraphState()
    app = FastAPI(title="Fake Meta Graph API", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.fake = fake
    app.add_middleware(FakeControlMiddleware, state=fake, render_error=_render_failure)
    app.include_router(control_router(fake))

    @app.post("/{version}/{pixel_id}/events", response_model=None)
    async def events(version: str, pixel_id: str, request: Request) -> JSONResponse:
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
        trace = _fbtrace_id()
        received = fake.events.setdefault(pixel_id, [])
        test_code = params.get("test_event_code")
        for event in accepted:
            received.append(ReceivedEvent(pixel_id, version, event, test_code, trace, time.time()))
        missing = fake.under_report.pop(0) if fake.under_report else 0
        counted = max(0, len(accepted) - missing)
        return JSONResponse({"events_received": counted, "messages": [], "fbtrace_id": trace})

    @app.get("/_fake/events")
    async def list_events(pixel_id: str | None = None) -> list[dict[str, Any]]:
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

    @app.get("/_fake/pixels")
    async def list_pixels() -> dict[str, str]:
        return fake.pixels

    @app.post("/_fake/pixels")
    async def add_pixel(request: Request) -> dict[str, bool]:
        body = await request.json()
        fake.add_pixel(str(body["pixel_id"]), str(body["access_token"]))
        return {"ok": True}

    return app
