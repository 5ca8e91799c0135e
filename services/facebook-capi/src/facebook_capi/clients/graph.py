"""The one Graph API call we make: `POST /{version}/{pixel_id}/events`, errors turned into ours once, here.

Why not `servicekit.upstream.call`: Graph reports throttling as HTTP 400 with codes 4/17/613 (reference §7),
which `call` would turn into a permanent `UpstreamRejected` without the body; we need Meta's code to decide.
What a failure proves is decided as `call` decides it (servicekit.outcomes): transport errors through
`upstream.transport_failure`, a 5xx other than 503 and a 2xx we cannot read are unknown outcomes (Meta may
have stored the events); a 4xx means nothing was stored (Meta rejects a request as a whole, §7).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr
from servicekit.outcomes import Answer, OutcomeUnknown
from servicekit.upstream import NOT_PROCESSED, segment, transport_failure

from facebook_capi.errors import EventRejected, GraphRejected, GraphUnavailable

#: Graph codes a retry may cure (reference §7): unknown/temporary, throttling, business-use-case limits.
TRANSIENT_CODES = frozenset({1, 2, 4, 17, 32, 341, 613, *range(80000, 80015)})
#: code 100 subcode 33: the pixel does not exist or the token cannot write to it; no event is to blame.
_UNKNOWN_OBJECT = 33


@dataclass(frozen=True)
class EventsReceived:
    events_received: int
    fbtrace_id: str | None
    messages: list[Any]


class GraphClient:
    def __init__(self, http: httpx.AsyncClient, *, api_version: str) -> None:
        self._http, self._version = http, api_version

    async def send_events(
        self,
        pixel_id: str,
        events: list[dict[str, Any]],
        *,
        access_token: SecretStr,
        test_event_code: str | None = None,
    ) -> EventsReceived:
        # The token travels in the JSON body (documented, reference §1), never in the URL: httpx and proxies
        # log URLs.
        body: dict[str, Any] = {"data": events, "access_token": access_token.get_secret_value()}
        if test_event_code:
            body["test_event_code"] = test_event_code
        try:
            response = await self._http.post(f"/{self._version}/{segment(pixel_id)}/events", json=body)
        except httpx.TransportError as exc:
            raise transport_failure(exc, api="graph", idempotent=False) from exc
        status = response.status_code
        if status < 400:
            try:
                data = response.json()
            except ValueError:
                data = None
            if not isinstance(data, dict):
                answer = Answer("unreadable_body", status)
                raise OutcomeUnknown(f"graph: HTTP {status} with a body that is not JSON", answer=answer)
            # A missing count reads as 0, as Meta's SDK reads it: nothing is accounted for.
            received = data.get("events_received")
            return EventsReceived(
                received if isinstance(received, int) else 0,
                data.get("fbtrace_id"),
                list(data.get("messages") or []),
            )
        if status >= 500 and status not in NOT_PROCESSED:
            raise OutcomeUnknown(f"graph: HTTP {status}", answer=Answer("server_error", status))
        raise error_of(response)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None


def error_of(response: httpx.Response) -> GraphUnavailable | GraphRejected:
    """Classify a Graph error answer (reference §7): transient → retry, code 100 → an event is bad, the rest
    (token 190, permissions 10/200-299, capability 3, policy block 368) → the request can never succeed."""
    error = _json(response).get("error")
    error = error if isinstance(error, dict) else {}
    code = error.get("code") if isinstance(error.get("code"), int) else None
    subcode = error.get("error_subcode") if isinstance(error.get("error_subcode"), int) else None
    message = str(error.get("error_user_msg") or error.get("message") or f"HTTP {response.status_code}")[:500]
    if error.get("error_user_msg") and error.get("message"):
        message = f"{error['message']}: {message}"
    trace = error.get("fbtrace_id") if isinstance(error.get("fbtrace_id"), str) else None
    status = response.status_code
    if error.get("is_transient") is True or code in TRANSIENT_CODES or status == 429 or status >= 500:
        return GraphUnavailable(
            f"graph: HTTP {status}, code {code}: {message}",
            code=code,
            status=status,
            retry_after=_retry_after(response),
        )
    kind = EventRejected if code == 100 and subcode != _UNKNOWN_OBJECT else GraphRejected
    return kind(message, status=status, code=code, subcode=subcode, fbtrace_id=trace)
