"""evolution-manager's admin API: the registry of WhatsApp instances (secrets go in, never come out)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
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

    async def connect(self, name: str, *, company_id: str, number: str | None) -> dict[str, Any] | None:
        """Pairing (QR code, pairing code) from Evolution's connect; None if no such instance of the company.
        Safe to repeat (while pairing Evolution answers the current QR code), so retried."""
        params = {"company_id": company_id} | ({"number": number} if number else {})

        async def attempt() -> httpx.Response:
            return await upstream.call(
                self._http,
                "POST",
                f"/v1/instances/{segment(name)}/connect",
                api=API,
                params=params,
                headers=self._headers(),
                idempotent=True,
            )

        return await self._unless_missing(attempt)

    async def refresh(self, name: str) -> dict[str, Any] | None:
        """Evolution's connection state now (evolution-manager publishes ``instance.status`` if it changed)."""

        async def attempt() -> httpx.Response:
            return await upstream.call(
                self._http,
                "POST",
                f"/v1/instances/{segment(name)}/refresh",
                api=API,
                headers=self._headers(),
                idempotent=True,  # it reads a state and records it: a repeat changes nothing
            )

        return await self._unless_missing(attempt)

    async def remove(self, name: str, *, company_id: str) -> dict[str, Any] | None:
        async def attempt() -> httpx.Response:
            return await upstream.call(
                self._http,
                "DELETE",
                f"/v1/instances/{segment(name)}",
                api=API,
                params={"company_id": company_id},
                headers=self._headers(),
            )

        # Not retried: a repeat after a removal that went through would answer 404 for a success.
        return await self._unless_missing(attempt, attempts=1)

    async def _unless_missing(
        self, attempt: Callable[[], Awaitable[httpx.Response]], *, attempts: int = 3
    ) -> dict[str, Any] | None:
        try:
            response = await upstream.with_retries(attempt, attempts=attempts, initial=0.1, maximum=1.0)
        except UpstreamRefused as exc:
            if exc.status == 404:
                return None
            raise
        return dict(response.json())
