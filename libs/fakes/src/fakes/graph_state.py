"""The fake Graph API's state (pixels, received events) and the checks Meta makes of an events batch."""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi.responses import JSONResponse

from fakes.control import FakeState

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


def fbtrace_id() -> str:
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
    error["fbtrace_id"] = fbtrace_id()
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
