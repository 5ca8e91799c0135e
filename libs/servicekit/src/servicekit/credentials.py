"""Who calls an internal API: one bearer credential per caller → callee pair.

Each callee knows the credential of each of its callers by name (backoffice-api's, the platform operators',
the metrics scraper's) and nothing else; a caller holds one credential per service it calls. A credential
taken from one pair opens nothing else, and a callee can tell its callers apart (and log which one acted).

Static credentials rather than short-lived signed tokens: every pair is known when the system is deployed,
there is no token service to run or clock to trust, and rotating one is setting one variable on two
processes. Comparison is constant-time and runs against every configured credential, so the answer's timing
says neither how much of a guess was right nor which caller it was close to.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from pydantic import SecretStr

from servicekit.errors import Unauthenticated


def bearer(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def caller(authorization: str | None, callers: Mapping[str, SecretStr | None]) -> str:
    """The name of the caller whose credential ``Authorization: Bearer …`` presents. A caller whose credential
    is not configured (``None``) cannot be authenticated at all. Anything else is :class:`Unauthenticated`."""
    presented = (bearer(authorization) or "").encode()
    found: str | None = None
    for name, credential in callers.items():
        if credential is None:
            continue
        if hmac.compare_digest(presented, credential.get_secret_value().encode()) and presented:
            found = found or name
    if found is None:
        raise Unauthenticated("a valid bearer credential is required (Authorization: Bearer …)")
    return found
