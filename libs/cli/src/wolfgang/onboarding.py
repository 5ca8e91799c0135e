"""``wolfgang setup``: what a new deployment needs before its first WhatsApp message, in one command.

A company id, its operator's API key (made by backoffice-api over its admin route with the platform operator's
credential, stored as a hash: the key is printed once) and a WhatsApp instance registered through
backoffice-api's own API with a fresh webhook secret; then the body of
Evolution's ``POST /webhook/set/{instance}`` that points the instance at evolution-manager with that secret,
as a static header or as the key of the HS256 JWT Evolution signs (``shared/reference/evolution-api.md`` §4).
The secret is generated here and never stored outside evolution-manager's registry: this output is the only
place it is shown, as the API key is.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import httpx
from eventbus.ids import new_id

from wolfgang import operator_keys
from wolfgang.console import CliError

#: The two Evolution events evolution-manager turns into catalog events; every other one is answered 200 and
#: ignored, so subscribing to more only costs requests.
EVENTS = ("MESSAGES_UPSERT", "CONNECTION_UPDATE")
#: evolution-manager's ``EVOLUTION_WEBHOOK_SECRET_HEADER`` default.
SECRET_HEADER = "x-shared-secret"  # noqa: S105 - the header's name, not a secret
WEBHOOK_PATH = "/webhooks/evolution"


@dataclass(frozen=True)
class Onboarded:
    company_id: str
    key_id: str
    api_key: str
    instance: str
    instance_id: str
    webhook_url: str
    webhook_secret: str
    #: The body of Evolution's ``POST /webhook/set/{instance}``.
    evolution_webhook: dict[str, Any]


def evolution_webhook(url: str, secret: str, *, jwt: bool) -> dict[str, Any]:
    """The instance's webhook as Evolution 2.2+ takes it (wrapped in ``webhook``; the v1 flat form is refused).
    ``jwt``: Evolution removes ``jwt_key`` from the headers and sends ``Authorization: Bearer <JWT>`` signed
    with it instead, so the secret itself never travels."""
    headers = {"jwt_key": secret} if jwt else {SECRET_HEADER: secret}
    return {
        "webhook": {
            "enabled": True,
            "url": url,
            "headers": headers,
            # One URL for every event: byEvents would append a suffix per event, which evolution-manager accepts
            # too, but a proxy rule for one path is simpler.
            "byEvents": False,
            # base64 would put whole media files in each body (evolution-manager caps bodies at 8 MiB).
            "base64": False,
            "events": list(EVENTS),
        }
    }


async def onboard(
    http: httpx.AsyncClient,
    *,
    admin_token: str,
    backoffice_url: str,
    public_url: str,
    instance: str,
    company_id: str | None = None,
    instance_api_key: str | None = None,
    jwt: bool = False,
) -> Onboarded:
    """Create the key, register the instance, and say what Evolution needs. A refused registration leaves the
    key (it may be reused with ``--company``) and says how to revoke it."""
    company = company_id or new_id("cmp")
    key = await operator_keys.create(
        http, backoffice_url, admin_token, company_id=company, name=f"operator of {instance}"
    )
    api_key = key.api_key
    secret = secrets.token_urlsafe(32)
    body: dict[str, Any] = {"channel": "whatsapp", "webhook_secret": secret}
    if instance_api_key:
        body["api_key"] = instance_api_key
    response = await http.put(
        f"{backoffice_url.rstrip('/')}/v1/instances/{instance}", json=body, headers={"X-API-Key": api_key}
    )
    if response.status_code >= 400:
        detail = operator_keys.detail(response)
        raise CliError(
            f"backoffice-api refused the instance {instance!r} ({response.status_code}: {detail}); "
            f"the key {key.key_id} of {company} was created: reuse the company with --company {company}, "
            f"or revoke the key with {operator_keys.REVOKE_HINT.format(key_id=key.key_id)}"
        )
    url = public_url.rstrip("/") + WEBHOOK_PATH
    return Onboarded(
        company_id=company,
        key_id=key.key_id,
        api_key=api_key,
        instance=instance,
        instance_id=str(response.json()["instance_id"]),
        webhook_url=url,
        webhook_secret=secret,
        evolution_webhook=evolution_webhook(url, secret, jwt=jwt),
    )
