"""The services that own side-effect records (servicekit.outcomes): their ``/ops/outcomes``, read and resolved
over HTTP. Services never read each other's keys; the owner carries out the decision."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr
from servicekit import UpstreamUnavailable, upstream


@dataclass(frozen=True)
class Owner:
    http: httpx.AsyncClient
    token: SecretStr | None

    def headers(self) -> dict[str, str]:
        # No credential configured (development): the call goes without one and is refused upstream.
        return {"Authorization": f"Bearer {self.token.get_secret_value()}"} if self.token else {}


class OutcomeOwners:
    def __init__(self, owners: dict[str, Owner]) -> None:
        self.owners = owners

    async def unknown(self) -> tuple[list[dict[str, Any]], list[str]]:
        """Every owner's unknown outcomes (each with its ``service``), and the owners that did not answer."""
        rows: list[dict[str, Any]] = []
        unavailable: list[str] = []
        for service, owner in self.owners.items():
            try:
                response = await upstream.call(
                    owner.http, "GET", "/ops/outcomes", api=service, headers=owner.headers()
                )
            except UpstreamUnavailable:
                unavailable.append(service)
                continue
            rows.extend({"service": service, **row} for row in response.json())
        return rows, unavailable

    async def resolve(
        self, service: str, effect: str, effect_id: str, *, decision: str, operator: str
    ) -> Any:
        owner = self.owners[service]
        response = await upstream.call(
            owner.http,
            "POST",
            f"/ops/outcomes/{upstream.segment(effect)}/{upstream.segment(effect_id)}/resolve",
            api=service,
            idempotent=True,  # a second call finds nothing to resolve (404): never a second decision
            json={"decision": decision, "operator": operator},
            headers=owner.headers(),
        )
        return response.json()
