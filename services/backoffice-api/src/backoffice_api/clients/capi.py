"""facebook-capi's settings API for backoffice-api (``/v1/settings/companies/{id}/capi``), with
backoffice-api's own credential for it (``CAPI_BACKOFFICE_TOKEN``), never facebook-capi's keys: the access
token goes in and never comes back."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import SecretStr
from servicekit import upstream
from servicekit.upstream import UpstreamRefused, segment

API = "facebook-capi"


class CapiSettingsClient:
    def __init__(self, http: httpx.AsyncClient, *, token: SecretStr | None) -> None:
        self._http = http
        self._token = token

    def _headers(self) -> dict[str, str]:
        # No credential configured (development): the call goes without one and is refused upstream.
        return {"Authorization": f"Bearer {self._token.get_secret_value()}"} if self._token else {}

    async def get(self, company_id: str) -> dict[str, Any] | None:
        try:
            response = await upstream.call(
                self._http,
                "GET",
                f"/v1/settings/companies/{segment(company_id)}/capi",
                api=API,
                headers=self._headers(),
            )
        except UpstreamRefused as exc:
            if exc.status == 404:
                return None
            raise
        return dict(response.json())

    async def put(self, company_id: str, body: dict[str, Any]) -> dict[str, Any]:
        async def attempt() -> httpx.Response:
            # A PUT sets the whole configuration: a repeat leaves the same one.
            return await upstream.call(
                self._http,
                "PUT",
                f"/v1/settings/companies/{segment(company_id)}/capi",
                api=API,
                json=body,
                headers=self._headers(),
            )

        response = await upstream.with_retries(attempt, attempts=3, initial=0.1, maximum=1.0)
        return dict(response.json())
