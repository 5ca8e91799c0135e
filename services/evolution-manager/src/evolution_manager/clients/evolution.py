"""The Evolution API calls we make (reference §7-8, §11), no more. Failures leave as servicekit's
``UpstreamDown`` / ``UpstreamUnavailable`` (nothing went out: retry), ``OutcomeUnknown`` (the text may have
gone out: never retried) or our :class:`EvolutionRejected` (permanent, with a reason that does not echo
Evolution's body: its error messages carry phone numbers)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import servicekit.upstream as upstream
from servicekit import UpstreamRejected, UpstreamUnavailable
from servicekit.outcomes import Answer, OutcomeUnknown

from evolution_manager.errors import EvolutionRejected

API = "evolution"


def _rejection(
    instance: str, exc: UpstreamRejected, response: dict[str, Any] | None
) -> EvolutionRejected | OutcomeUnknown:
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
        # Any exception after Baileys relayed the message (a DB write, an upload) is reported this way (§10):
        # it does not prove the text did not go out.
        return OutcomeUnknown(
            f"evolution: HTTP {status}: send path failed", answer=Answer("send_error", status)
        )
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

    async def _call(
        self,
        method: str,
        path: str,
        instance: str,
        *,
        api_key: str,
        idempotent: bool | None = None,
        **kwargs: Any,
    ) -> Any:
        try:
            response = await upstream.call(
                self._http,
                method,
                path,
                api=API,
                headers={"apikey": api_key},
                idempotent=idempotent,
                **kwargs,
            )
        except UpstreamRejected as exc:
            raise _rejection(instance, exc, _body_of(exc)) from None
        try:
            return response.json()
        except ValueError:
            if idempotent is False or (idempotent is None and method == "POST"):
                # A 2xx we cannot read: Evolution acted, what it did is unknown.
                answer = Answer("unreadable_body", response.status_code)
                raise OutcomeUnknown(
                    f"evolution: HTTP {response.status_code} with a body that is not JSON", answer=answer
                ) from None
            raise UpstreamUnavailable(f"evolution: HTTP {response.status_code}: body is not JSON") from None

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

    async def find_sent(
        self, instance: str, *, api_key: str, number: str, text: str, since: datetime
    ) -> str | None:
        """POST /chat/findMessages/{instance} (§11): the id of a text we sent to ``number`` since ``since``,
        if Evolution stored one. ``None`` proves nothing: Evolution may not store messages at all."""
        jid = number if "@" in number else f"{number}@s.whatsapp.net"
        window = {
            "gte": (since - timedelta(seconds=5)).astimezone(UTC).isoformat(),
            "lte": (datetime.now(UTC) + timedelta(seconds=5)).isoformat(),
        }
        body = {
            "where": {"key": {"remoteJid": jid, "fromMe": True}, "messageTimestamp": window},
            "offset": 50,
        }
        found = await self._call(
            "POST", f"/chat/findMessages/{instance}", instance, api_key=api_key, idempotent=True, json=body
        )
        records = ((found or {}).get("messages") or {}).get("records") if isinstance(found, dict) else None
        for record in records or []:
            message = record.get("message") or {}
            sent = message.get("conversation") or (message.get("extendedTextMessage") or {}).get("text")
            if sent == text:
                return str((record.get("key") or {}).get("id") or "")
        return None

    async def connection_state(self, instance: str, *, api_key: str) -> str:
        """GET /instance/connectionState/{instance} → ``open`` | ``connecting`` | ``close`` (§8)."""
        body = await self._call(
            "GET", f"/instance/connectionState/{upstream.segment(instance)}", instance, api_key=api_key
        )
        state = (body.get("instance") or {}).get("state") if isinstance(body, dict) else None
        return str(state) if state else "unknown"

    async def connect(self, instance: str, *, api_key: str, number: str | None = None) -> dict[str, Any]:
        """GET /instance/connect/{instance} (§9): the QR object ``{pairingCode, code, base64, count}`` while
        pairing (``{"count": 0}`` before the first QR), or the connectionState body when already ``open``.
        Evolution answers its own failures here with HTTP 200 ``{"error": true, "message"}``."""
        params = {"number": number} if number else None
        body = await self._call(
            "GET",
            f"/instance/connect/{upstream.segment(instance)}",
            instance,
            api_key=api_key,
            params=params,
        )
        if not isinstance(body, dict) or body.get("error") is True:
            raise UpstreamUnavailable("evolution: connect failed")
        return body
