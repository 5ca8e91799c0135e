"""Who may call ``/v1``, and how often: API keys and per-key rate limits, before any route runs.

Pure ASGI rather than a dependency, so that every answer under ``/v1`` — success, 401, 403, 404, 422 or a
streamed one — carries the ``X-RateLimit-*`` headers. Requests without a usable key spend a bucket of the
client's address: guessing keys is rate-limited too. Scopes are checked by the routes (``deps.requires``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import structlog
from redis.exceptions import RedisError
from servicekit import error_body
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backoffice_api.deps import Ports
from backoffice_api.ratelimit import Decision

log = structlog.get_logger("backoffice_api.access")


class Access:
    def __init__(self, app: ASGIApp, *, prefix: str = "/v1/") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        ports: Ports = scope["app"].state.ports
        settings = ports.settings
        key = Headers(scope=scope).get("x-api-key")
        try:
            record = await ports.api_keys.lookup(key) if key else None
            if record is None:
                client = scope.get("client")
                subject = f"addr:{client[0] if client else 'unknown'}"
                per_minute, burst = settings.rate_limit_per_minute, settings.rate_limit_burst
            else:
                subject = f"key:{record.key_id}"
                per_minute = record.rate_per_minute or settings.rate_limit_per_minute
                burst = record.burst or settings.rate_limit_burst
            decision = await ports.limiter.take(subject, per_minute=per_minute, burst=burst)
        except (RedisError, OSError) as exc:
            log.warning("access_check_unavailable", error=type(exc).__name__)
            await _answer(send, 503, "the key store is unavailable; retry later", [(b"retry-after", b"5")])
            return
        if not decision.allowed:
            message = (
                f"rate limit of {decision.limit} requests/min exceeded; retry in {decision.retry_after}s"
            )
            await _answer(send, 429, message, decision.headers())
            return
        if not key:
            await _answer(send, 401, "missing X-API-Key header", decision.headers())
            return
        if record is None:
            await _answer(send, 401, "unknown API key", decision.headers())
            return
        refusal = record.usable(datetime.now(UTC))
        if refusal is not None:
            await _answer(send, 403, refusal, decision.headers())
            return
        scope.setdefault("state", {})["principal"] = record
        await self.app(scope, receive, _with_headers(send, decision))


def _with_headers(send: Send, decision: Decision) -> Send:
    extra = decision.headers()

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return sending


async def _answer(send: Send, status: int, message: str, headers: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps(error_body(status, message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
