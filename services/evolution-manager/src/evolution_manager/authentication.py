"""Who may call us: Evolution with an instance's secret, operators with the admin token.

Evolution does not sign its webhooks (reference §4). Each instance is configured to send its secret either
as a custom header, or as ``jwt_key``, which Evolution turns into ``Authorization: Bearer <HS256 JWT>`` with
``{iat, exp: iat+600, app: "evolution", action: "webhook"}``. Both comparisons are constant-time
(``hmac.compare_digest``; PyJWT verifies the HMAC with it too).
"""

from __future__ import annotations

import hmac
import warnings
from collections.abc import Mapping

import jwt
from pydantic import SecretStr
from servicekit import Unauthenticated, credentials


def _same(presented: str, expected: SecretStr) -> bool:
    return hmac.compare_digest(presented.encode(), expected.get_secret_value().encode())


def _bearer(authorization: str | None) -> str | None:
    if authorization is None:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def verify_webhook(
    headers: Mapping[str, str], secret: SecretStr | None, *, header: str, leeway: float
) -> None:
    """Raise :class:`Unauthenticated` unless the request carries ``secret`` in ``header`` or a valid JWT."""
    if secret is None:
        raise Unauthenticated("this instance has no webhook secret registered: every webhook is refused")
    presented = headers.get(header)
    if presented is not None:
        if not _same(presented, secret):
            raise Unauthenticated(f"wrong webhook secret in {header}")
        return
    token = _bearer(headers.get("authorization"))
    if token is None:
        raise Unauthenticated(f"missing webhook secret: send {header} or Evolution's jwt_key Bearer token")
    try:
        with warnings.catch_warnings():
            # Short keys are refused at registration (16+ characters); PyJWT would still warn under 32.
            warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
            claims = jwt.decode(
                token,
                secret.get_secret_value(),
                algorithms=["HS256"],
                options={"require": ["iat", "exp"]},
                leeway=leeway,
            )
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"invalid webhook JWT: {exc}") from None
    if claims.get("app") != "evolution" or claims.get("action") != "webhook":
        raise Unauthenticated("webhook JWT was not issued by Evolution for a webhook")


def verify_admin(authorization: str | None, callers: Mapping[str, SecretStr | None]) -> str:
    """The caller (``backoffice-api`` or ``operator``) whose own credential was presented."""
    return credentials.caller(authorization, callers)
