"""The Evolution API calls we make (reference §7-8), no more. Failures leave as servicekit's
``UpstreamUnavailable`` (retry) or our :class:`EvolutionRejected` (permanent, with a reason that does not echo
Evolution's body: its error messages carry phone numbers)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import servicekit.upstream as upstream
from servicekit import UpstreamRejected

from evolution_manager.errors import EvolutionRejected

API = "evolution"


def _rejection(instance: str, exc: UpstreamRejected, response: dict[str, Any] | None) -> EvolutionRejected:
    status = getattr(exc, "status", 400)
    messages = ((response or {}).get("response") or {}).get("message")
    if status == 401:
        return EvolutionRejected(
            f"evolution: HTTP 401: API key refused for instance {instance!r}", status=401
        )
    if status == 404:
        return EvolutionRejected(f"evolution: HTTP 404: instance {instance!r} does not exist", status=404)
    if status == 403:
        return EvolutionRejected(f"evolution: HTTP 403: forbidden for instance {instance!r}", status=403)
    items = messages if isinstance(messages, list) else [messages]
    if any(isinstance(m, dict) and m.get("exists") is False for m in items):
        reason = "the recipient's number is not on WhatsApp"
    elif any(isinstance(m, str) and "Text is required" in m for m in items):
        reason = "the text is blank"
    elif any(isinstance(m, list) for m in items):
        reason = "request failed Evolution's schema validation"
    elif any(isinstance(m, str) and m.startswith("Error:") for m in items):
        # Any exception of its send path, as free text that may name the recipient's jid: not repeated.
        reason = "Evolution failed to send (an error in its send path)"
    else:
        reason = "bad request"
    return EvolutionRejected(f"evolution: HTTP {status}: {reason}", status=status)


def _body_of(exc: UpstreamRejected) -> dict[str, Any] | None:
    # servicekit keeps the refusal's response beside the message (which never carries the body): Evolution's
    # error shapes (reference §7) are read here and reduced to a reason that does not echo them.
    response: httpx.Response | None = getattr(exc, "response", None)
    try:
        body = json.loads(response.text[:4096]) if response is not None else None
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


class EvolutionClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def _call(self, method: str, path: str, instance: str, *, api_key: str, **kwargs: Any) -> Any:
        try:
            response = await upstream.call(
                self._http, method, path, api=API, headers={"apikey": api_key}, **kwargs
            )
        except UpstreamRejected as exc:
            raise _rejection(instance, exc, _body_of(exc)) from None
        return response.json()

    async def send_text(self, instance: str, *, api_key: str, number: str, text: str) -> str:
        """POST /message/sendText/{instance} (sample 5) → Evolution's id of the sent message (sample 6)."""
        body = await self._call(
            "POST",
            f"/message/sendText/{upstream.segment(instance)}",
            instance,
            api_key=api_key,
            json={"number": number, "text": text},
        )
        key = body.get("key") if isinstance(body, dict) else None
        return str(key.get("id", "")) if isinstance(key, dict) else ""

    async def connection_state(self, instance: str, *, api_key: str) -> str:
        """GET /instance/connectionState/{instance} → ``open`` | ``connecting`` | ``close`` (§8)."""
        body = await self._call(
            "GET", f"/instance/connectionState/{upstream.segment(instance)}", instance, api_key=api_key
        )
        state = (body.get("instance") or {}).get("state") if isinstance(body, dict) else None
        return str(state) if state else "unknown"
