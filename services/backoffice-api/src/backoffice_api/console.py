"""The operators' console: static ES modules and CSS shipped in this package, served under ``/console``.

The pages call the same ``/v1`` API as every other client, with the key the operator typed (kept in the
tab's ``sessionStorage``, sent as ``X-API-Key``): no cookie, so no CSRF, and no second way to read data.
Every answer carries a strict Content-Security-Policy (scripts and styles from this origin only, nothing
inline, no framing): a lead's text that slipped past the pages' ``textContent`` still could not run.
"""

from __future__ import annotations

from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ASSETS = Path(__file__).parent / "console_assets"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",  # the instances' QR codes arrive as data: URLs
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    # Revalidate on every load: an upgraded service never runs yesterday's modules against today's API.
    (b"cache-control", b"no-cache"),
)


class SecuredFiles:
    """``StaticFiles`` with the console's security headers on every answer (404s included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in SECURITY_HEADERS}
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": [*kept, *SECURITY_HEADERS]}
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except HTTPException as exc:  # StaticFiles raises its 404/405: answer here, with the headers
            answer = PlainTextResponse(str(exc.detail), status_code=exc.status_code, headers=exc.headers)
            await answer(scope, receive, sending)


def console_app() -> ASGIApp:
    return SecuredFiles(StaticFiles(directory=ASSETS, html=True))
