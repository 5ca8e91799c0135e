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

from fastapi import FastAPI

from fakes import graph_routes
from fakes.control import FakeControlMiddleware, control_router
from fakes.graph_state import (
    ACTION_SOURCES,
    BUSINESS_MESSAGING_EVENTS,
    GraphApiError,
    GraphState,
    ReceivedEvent,
    graph_error_body,
    validate_events,
)

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


def create_app(state: GraphState | None = None) -> FastAPI:
    fake = state if state is not None else GraphState()
    app = FastAPI(title="Fake Meta Graph API", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.fake = fake
    app.add_middleware(FakeControlMiddleware, state=fake, render_error=graph_routes.render_failure)
    app.include_router(control_router(fake))
    app.include_router(graph_routes.router)
    app.include_router(graph_routes.control)
    return app
