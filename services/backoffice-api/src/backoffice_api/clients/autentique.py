"""autentique-service's internal API (service brief, "Contracts between services"): contracts per deal."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import SecretStr
from servicekit import upstream
from servicekit.upstream import segment

API = "autentique-service"


class AutentiqueClient:
    """Failures leave as ``UpstreamUnavailable`` (retry later) or ``UpstreamRejected`` (the request is wrong)."""

    def __init__(self, http: httpx.AsyncClient, *, token: SecretStr | None) -> None:
        self._http = http
        self._token = token

    def _headers(self) -> dict[str, str]:
        # No credential configured (development): the call goes without one and is refused upstream.
        return {"Authorization": f"Bearer {self._token.get_secret_value()}"} if self._token else {}

    async def create_contract(self, request: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """The deal's contract and whether it was created now (201) or existed already (200).

        Retrying is safe: autentique-service keys contracts by deal, so a repeat answers the same contract.
        """

        async def attempt() -> httpx.Response:
            return await upstream.call(
                self._http, "POST", "/v1/contracts", api=API, json=request, headers=self._headers()
            )

        response = await upstream.with_retries(attempt, attempts=3, initial=0.1, maximum=1.0)
        return dict(response.json()), response.status_code == 201

    async def contract(self, contract_id: str) -> dict[str, Any]:
        response = await upstream.call(
            self._http, "GET", f"/v1/contracts/{segment(contract_id)}", api=API, headers=self._headers()
        )
        return dict(response.json())
