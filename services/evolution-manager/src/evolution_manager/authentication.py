"""Who may call us: Evolution with an instance's secret, operators with the admin token.

Evolution does not sign its webhooks (reference §4). Each instance is configured to send its secret either
as a custom header, or as ``jwt_key``, which Evolution turns into ``Authorization: Bearer <HS256 JWT>`` with
``{iat, exp: iat+600, app: "evolution", action: "webhook"}``. Both comparisons are constant-time
(``hmac.compare_digest``; PyJWT verifies the HMAC with it too).

Every refusal of a webhook is the same :data:`REFUSED` 401, whether the instance is unknown, has no secret,
or the secret or JWT signature is wrong: the answer must not tell which instance names exist. The log says
which. Only a JWT whose signature holds (its sender knows the secret) is told what else is wrong with it.
"""

from __future__ import annotations

import hmac
import warnings
from collections.abc import Mapping
from typing import Literal

import jwt
from pydantic import SecretStr
from servicekit import Unauthenticated, credentials

#: What every refused webhook is told (the reason goes to the log only).
REFUSED = "webhook refused: unknown instance, or missing or wrong secret"
#: Evolution signs ``exp = iat + 600`` (reference §4); a token meant to live longer was not made by it.
JWT_LIFETIME_SECONDS = 600

_SIGNED_BUT_INVALID = (
    jwt.ExpiredSignatureError,
    jwt.ImmatureSignatureError,
    jwt.MissingRequiredClaimError,
    jwt.InvalidIssuedAtError,
)


class WebhookRefused(Unauthenticated):
    """A webhook that is not proven to come from the instance it names; ``reason`` is for the log alone."""

    def __init__(self, reason: str, *, signed: bool = False) -> None:
        super().__init__(f"webhook refused: {reason}" if signed else REFUSED)
        self.reason = reason


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
    """Raise :class:`WebhookRefused` unless the request carries ``secret`` in ``header`` or a valid JWT."""
    if secret is None:
        raise WebhookRefused("the instance has no webhook secret registered")
    presented = headers.get(header)
    if presented is not None:
        if not _same(presented, secret):
            raise WebhookRefused(f"wrong webhook secret in {header}")
        return
    token = _bearer(headers.get("authorization"))
    if token is None:
        raise WebhookRefused(f"no {header} header and no Bearer token")
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
    except _SIGNED_BUT_INVALID as exc:  # PyJWT checks claims only after the signature
        raise WebhookRefused(f"invalid webhook JWT: {exc}", signed=True) from None
    except jwt.PyJWTError as exc:
        raise WebhookRefused(f"invalid webhook JWT: {exc}") from None
    if claims.get("app") != "evolution" or claims.get("action") != "webhook":
        raise WebhookRefused("webhook JWT was not issued by Evolution for a webhook", signed=True)
    # PyJWT checks that exp is not past and iat not ahead, not how long the token was made to live: a
    # leaked 10-year token would otherwise open the instance for 10 years.
    lifetime = _number(claims["exp"]) - _number(claims["iat"])
    if not 0 < lifetime <= JWT_LIFETIME_SECONDS + leeway:
        raise WebhookRefused(
            f"webhook JWT lives {lifetime:.0f} s, more than {JWT_LIFETIME_SECONDS} s", signed=True
        )


def verify_admin(authorization: str | None, callers: Mapping[str, SecretStr | None]) -> str:
    """The caller (``backoffice-api`` or ``operator``) whose own credential was presented."""
    return credentials.caller(authorization, callers)


def _number(claim: object) -> float:
    # PyJWT has already refused non-numeric iat/exp; this only narrows the type.
    return float(claim) if isinstance(claim, int | float) else float("nan")


#: Who calls the admin API: ``service`` (EVOLUTION_ADMIN_TOKEN, backoffice-api on behalf of companies) or
#: ``operator`` (EVOLUTION_OPERATOR_TOKEN, the platform: platform-created instances, moves between companies).
Caller = Literal["service", "operator"]


def admin_caller(authorization: str | None, *, admin: SecretStr | None, operator: SecretStr | None) -> Caller:
    """Which of the two credentials was presented (constant-time, servicekit.credentials)."""
    name = verify_admin(authorization, {"backoffice-api": admin, "operator": operator})
    return "operator" if name == "operator" else "service"
