"""autentique-service's internal API (service brief, "Contracts between services"): contracts per deal.

Of the calls backoffice-api makes to other services, this `POST` is the one that is not idempotent by itself
(`reissue: true` makes a new contract each time), so it always carries an `Idempotency-Key` and is retried
only with it. The others are retried as they are: `PUT` an instance and `PUT`/`DELETE` a handoff set a state
(evolution.py, agent.py); reads are not retried.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import SecretStr
from servicekit import Conflict, RateLimited, upstream
from servicekit.upstream import UpstreamRefused, UpstreamStatus, segment

API = "autentique-service"
IDEMPOTENCY_HEADER = "Idempotency-Key"


class IdempotencyKeyReused(ValueError):
    """The operator's ``Idempotency-Key`` came with another request before (HTTP 422)."""


class AutentiqueClient:
    """Failures leave as ``UpstreamUnavailable`` (retry later), ``UpstreamRejected`` (the request is wrong),
    ``Conflict`` (the deal's contract is being made by another request) or ``IdempotencyKeyReused``."""

    def __init__(self, http: httpx.AsyncClient, *, token: SecretStr | None) -> None:
        self._http = http
        self._token = token

    def _headers(self) -> dict[str, str]:
        # No credential configured (development): the call goes without one and is refused upstream.
        return {"Authorization": f"Bearer {self._token.get_secret_value()}"} if self._token else {}

    async def create_contract(
        self, request: dict[str, Any], *, idempotency_key: str
    ) -> tuple[dict[str, Any], bool]:
        """The deal's contract and whether it was created now (201) or existed already (200).

        Retrying is safe only because of ``idempotency_key``: autentique-service answers a repeat with the
        first request's result (a re-issue retried after our timeout would otherwise make a second contract).
        """
        headers = self._headers() | {IDEMPOTENCY_HEADER: idempotency_key}

        async def attempt() -> httpx.Response:
            # idempotent: the key makes a repeat return the first result, so a timeout or a 5xx after
            # autentique-service may have acted is safe to retry (servicekit.upstream).
            return await upstream.call(
                self._http, "POST", "/v1/contracts", api=API, json=request, headers=headers, idempotent=True
            )

        try:
            response = await upstream.with_retries(attempt, attempts=3, initial=0.1, maximum=1.0)
        except UpstreamRefused as exc:
            raise _refusal(exc) from exc
        return dict(response.json()), response.status_code == 201

    async def contract(self, contract_id: str) -> dict[str, Any]:
        response = await upstream.call(
            self._http, "GET", f"/v1/contracts/{segment(contract_id)}", api=API, headers=self._headers()
        )
        return dict(response.json())

    # Follow-ups on a sent contract. Cancel is idempotent there (a repeat answers the cancelled contract), so
    # it is retried; a reminder is retried only with its Idempotency-Key (a repeat answers the first result;
    # an ambiguous one is recorded there as an unknown outcome, never resent).

    async def cancel(self, contract_id: str) -> dict[str, Any]:
        async def attempt() -> httpx.Response:
            return await upstream.call(
                self._http,
                "POST",
                f"/v1/contracts/{segment(contract_id)}/cancel",
                api=API,
                headers=self._headers(),
                idempotent=True,
            )

        response = await upstream.with_retries(attempt, attempts=3, initial=0.1, maximum=1.0)
        return dict(response.json())

    async def remind(self, contract_id: str, *, idempotency_key: str) -> dict[str, Any]:
        headers = self._headers() | {IDEMPOTENCY_HEADER: idempotency_key}

        async def attempt() -> httpx.Response:
            try:
                return await upstream.call(
                    self._http,
                    "POST",
                    f"/v1/contracts/{segment(contract_id)}/reminders",
                    api=API,
                    headers=headers,
                    idempotent=True,  # the key makes a repeat answer the first result
                )
            except UpstreamStatus as exc:
                if exc.status == 429:  # Autentique's cool-down: nothing was sent, and a retry now cannot help
                    raise RateLimited(
                        "every pending signer was reminded recently; try again later", retry_after=60
                    ) from None
                raise

        response = await upstream.with_retries(attempt, attempts=3, initial=0.1, maximum=1.0)
        return dict(response.json())

    async def signed_file(self, contract_id: str) -> dict[str, Any]:
        response = await upstream.call(
            self._http,
            "GET",
            f"/v1/contracts/{segment(contract_id)}/signed-file",
            api=API,
            headers=self._headers(),
        )
        return dict(response.json())


def _error_code(response: httpx.Response | None) -> str | None:
    """The ``error.code`` of a servicekit error body; read here, never echoed (answers carry no upstream body)."""
    try:
        code = response.json()["error"]["code"] if response is not None else None
    except (ValueError, KeyError, TypeError):
        return None
    return code if isinstance(code, str) else None


def _refusal(exc: UpstreamRefused) -> Exception:
    """autentique-service's 409 (the deal's contract is being made) and its idempotency 422 are the caller's
    to act on, not an upstream fault."""
    if exc.status == 409:
        return Conflict(f"{API}: the deal's contract is being made by another request; retry shortly")
    if exc.status == 422 and _error_code(exc.response) == "idempotency_key_reused":
        return IdempotencyKeyReused(f"{IDEMPOTENCY_HEADER} already used for a different contract request")
    return exc
