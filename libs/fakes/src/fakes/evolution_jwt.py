"""The ``jwt_key`` JWT Evolution puts on its webhooks (reference §4 "Authentication of webhooks"): HS256 over
``{iat, exp: iat+600, app: "evolution", action: "webhook"}``, made and verified."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# Hand-written HS256 rather than PyJWT: PyJWT is not a dependency of this workspace, and the token is
# three base64url parts and one HMAC, which keeps the fake free of a library just for this.
def make_webhook_jwt(jwt_key: str, *, now: int | None = None) -> str:
    iat = int(time.time()) if now is None else now
    header = {"alg": "HS256", "typ": "JWT"}
    payload = {"iat": iat, "exp": iat + 600, "app": "evolution", "action": "webhook"}
    signing_input = (
        _b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _b64url(json.dumps(payload, separators=(",", ":")).encode())
    )
    signature = hmac.new(jwt_key.encode(), signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + _b64url(signature)


def decode_webhook_jwt(token: str, jwt_key: str, *, now: int | None = None) -> dict[str, Any]:
    """Verify an HS256 token the way a receiver should (signature, then `exp`); raises ValueError."""
    try:
        header_b64, payload_b64, signature_b64 = token.split(".")
    except ValueError as exc:
        raise ValueError("malformed JWT") from exc
    if json.loads(_b64url_decode(header_b64)).get("alg") != "HS256":
        raise ValueError("unexpected JWT alg")
    expected = hmac.new(
        jwt_key.encode(), f"{header_b64}.{payload_b64}".encode("ascii"), hashlib.sha256
    ).digest()
    if not hmac.compare_digest(expected, _b64url_decode(signature_b64)):
        raise ValueError("bad JWT signature")
    payload: dict[str, Any] = json.loads(_b64url_decode(payload_b64))
    if int(payload.get("exp", 0)) < (int(time.time()) if now is None else now):
        raise ValueError("JWT expired")
    return payload
