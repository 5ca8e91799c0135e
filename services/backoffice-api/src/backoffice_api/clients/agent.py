"""agent-runtime's admin API: the human-handoff flag of a lead, which agent-runtime owns (while it is set,
the agent stops answering that lead), an operator's reply, which agent-runtime publishes as ``message.sent``
(the channel's producer), and a company's agent settings, which it owns too."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import SecretStr
from servicekit import upstream
from servicekit.upstream import UpstreamRefused, segment

API = "agent-runtime"


class AgentAdminClient:
    def __init__(self, http: httpx.AsyncClient, *, token: SecretStr | None) -> None:
        self._http = http
        self._token = token

    def _headers(self) -> dict[str, str]:
        # No credential configured (development): the call goes without one and is refused upstream.
        return {"Authorization": f"Bearer {self._token.get_secret_value()}"} if self._token else {}

    async def set_handoff(self, lead_id: str, *, company_id: str, reason: str | None) -> dict[str, Any]:
        body = {"company_id": company_id, "reason": reason}

        async def attempt() -> httpx.Response:
            return await upstream.call(
                self._http,
                "PUT",
                f"/v1/leads/{segment(lead_id)}/handoff",
                api=API,
                json=body,
                headers=self._headers(),
            )

        response = await upstream.with_retries(attempt, attempts=3, initial=0.1, maximum=1.0)
        return _json(response)

    async def clear_handoff(self, lead_id: str, *, company_id: str) -> None:
        async def attempt() -> httpx.Response:
            return await upstream.call(
                self._http,
                "DELETE",
                f"/v1/leads/{segment(lead_id)}/handoff",
                api=API,
                params={"company_id": company_id},
                headers=self._headers(),
            )

        try:
            await upstream.with_retries(attempt, attempts=3, initial=0.1, maximum=1.0)
        except UpstreamRefused as exc:
            if exc.status != 404:  # nothing to clear: already the state we want
                raise

    async def send_reply(
        self,
        lead_id: str,
        *,
        company_id: str,
        instance_id: str,
        text: str,
        idempotency_key: str,
        requested_by: str,
    ) -> dict[str, Any]:
        """Retried freely: agent-runtime derives the event from ``idempotency_key`` and publishes it once."""
        body = {
            "company_id": company_id,
            "instance_id": instance_id,
            "text": text,
            "idempotency_key": idempotency_key,
            "requested_by": requested_by,
        }

        async def attempt() -> httpx.Response:
            return await upstream.call(
                self._http,
                "POST",
                f"/v1/leads/{segment(lead_id)}/messages",
                api=API,
                json=body,
                headers=self._headers(),
            )

        response = await upstream.with_retries(attempt, attempts=3, initial=0.1, maximum=1.0)
        return _json(response)

    async def handoff(self, lead_id: str, *, company_id: str) -> dict[str, Any] | None:
        try:
            response = await upstream.call(
                self._http,
                "GET",
                f"/v1/leads/{segment(lead_id)}/handoff",
                api=API,
                params={"company_id": company_id},
                headers=self._headers(),
            )
        except UpstreamRefused as exc:
            if exc.status == 404:
                return None
            raise
        return _json(response)

    async def agent_settings(self, company_id: str) -> dict[str, Any]:
        """The company's agent settings as in effect (``settings``, ``source``, ``updated_at``…)."""

        async def attempt() -> httpx.Response:
            return await upstream.call(
                self._http,
                "GET",
                f"/v1/companies/{segment(company_id)}/agent-settings",
                api=API,
                headers=self._headers(),
            )

        return _json(await upstream.with_retries(attempt, attempts=3, initial=0.1, maximum=1.0))

    async def put_agent_settings(
        self, company_id: str, settings: dict[str, Any], *, updated_by: str
    ) -> dict[str, Any]:
        """Replace them whole: idempotent, so retried."""

        async def attempt() -> httpx.Response:
            return await upstream.call(
                self._http,
                "PUT",
                f"/v1/companies/{segment(company_id)}/agent-settings",
                api=API,
                json={"settings": settings, "updated_by": updated_by},
                headers=self._headers(),
            )

        return _json(await upstream.with_retries(attempt, attempts=3, initial=0.1, maximum=1.0))


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return dict(body) if isinstance(body, dict) else {}
