"""A company's operator key, made by backoffice-api over its admin route (``POST /admin/companies/{id}/keys``,
the platform operator's ``BACKOFFICE_ADMIN_TOKEN``): backoffice-api owns API keys, and the command line asks
it for one rather than writing its Redis keys. Used by ``wolfgang setup``, ``wolfgang keys create`` and the
demo."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from wolfgang.console import CliError

#: backoffice-api's own command for listing and revoking keys, run where the service runs (it reads REDIS_URL
#: like the service; in its image: ``docker compose exec backoffice-api backoffice-api keys list``).
REVOKE_HINT = "`backoffice-api keys revoke {key_id}` where backoffice-api runs"


@dataclass(frozen=True)
class OperatorKey:
    key_id: str
    company_id: str
    api_key: str
    scopes: tuple[str, ...]


async def create(
    http: httpx.AsyncClient, backoffice_url: str, admin_token: str, *, company_id: str, name: str
) -> OperatorKey:
    response = await http.post(
        f"{backoffice_url.rstrip('/')}/admin/companies/{company_id}/keys",
        json={"name": name},
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    if response.status_code == 401:
        raise CliError(
            "backoffice-api refused the platform operator's credential: give the BACKOFFICE_ADMIN_TOKEN it "
            "runs with (--admin-token or the variable)"
        )
    if response.status_code != 201:
        raise CliError(f"backoffice-api did not create the key ({response.status_code}: {detail(response)})")
    body = response.json()
    return OperatorKey(body["key_id"], body["company_id"], body["api_key"], tuple(body["scopes"]))


async def usable(http: httpx.AsyncClient, backoffice_url: str, api_key: str, company_id: str) -> str | None:
    """The key's id when backoffice-api still accepts ``api_key`` for ``company_id``; else None."""
    response = await http.get(f"{backoffice_url.rstrip('/')}/v1/me", headers={"X-API-Key": api_key})
    if response.status_code != 200:
        return None
    body = response.json()
    return str(body["key_id"]) if body.get("company_id") == company_id else None


def detail(response: httpx.Response) -> str:
    """servicekit's error body (``{"error": {"code", "message"}}``) names what was wrong, never an input value;
    any other body is not echoed."""
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) else response.reason_phrase
