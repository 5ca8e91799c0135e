"""evolution-manager's admin API: the registry of WhatsApp instances (secrets go in, never come out)."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import SecretStr
from servicekit import upstream
from servicekit.upstream import UpstreamRefused, segment

API = "evolution-manager"
# The fields evolution-manager's 422 may name on a registration, as this API names them.
_FIELDS = {
    "api_key": ("body", "api_key"),
    "webhook_secret": ("body", "webhook_secret"),
    "path.name": ("path", "name"),
}


def refused_fields(exc: UpstreamRefused) -> list[dict[str, Any]]:
    """evolution-manager's 422 on a registration as FastAPI errors of ours, naming the same fields. Only
    fields of the request are passed on (its problems are its own words, never Evolution's body)."""
    try:
        problems = exc.response.json()["error"]["problems"] if exc.response is not None else []
    except (ValueError, KeyError, TypeError):
        problems = []
    errors = [
        {"loc": _FIELDS[p["field"]], "msg": str(p.get("problem", "invalid")), "type": "value_error"}
        for p in problems
        if isinstance(p, dict) and p.get("field") in _FIELDS
    ]
    return errors or [{"loc": ("body",), "msg": "refused by evolution-manager", "type": "value_error"}]


class EvolutionAdminClient:
    def __init__(self, http: httpx.AsyncClient, *, token: SecretStr | None) -> None:
        self._http = http
        self._token = token

    def _headers(self) -> dict[str, str]:
        # No credential configured (development): the call goes without one and is refused upstream.
        return {"Authorization": f"Bearer {self._token.get_secret_value()}"} if self._token else {}

    async def put_instance(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        async def attempt() -> httpx.Response:
            return await upstream.call(
                self._http,
                "PUT",
                f"/v1/instances/{segment(name)}",
                api=API,
                json=body,
                headers=self._headers(),
            )

        response = await upstream.with_retries(attempt, attempts=3, initial=0.1, maximum=1.0)
        return dict(response.json())

    async def instances(self, company_id: str) -> list[dict[str, Any]]:
        response = await upstream.call(
            self._http,
            "GET",
            "/v1/instances",
            api=API,
            params={"company_id": company_id},
            headers=self._headers(),
        )
        body = response.json()
        # The contract says "→ list"; accept a bare list or {"instances": [...]} / {"items": [...]}.
        if isinstance(body, dict):
            body = body.get("instances", body.get("items", []))
        return [dict(item) for item in body]

    async def instance(self, name: str) -> dict[str, Any] | None:
        try:
            response = await upstream.call(
                self._http, "GET", f"/v1/instances/{segment(name)}", api=API, headers=self._headers()
            )
        except UpstreamRefused as exc:
            if exc.status == 404:
                return None
            raise
        return dict(response.json())
