"""The end-to-end demo ``make run`` plays, through the services' HTTP APIs and the fakes' control routes.

Seed (idempotent, also with ``--no-demo``): a demo company, its operator API key (kept in
``.data/demo.json`` so that a second run reuses it), the WhatsApp instance ``vendas-01`` registered with
evolution-manager and fake Evolution's webhook pointed at it, and the company's Conversions API settings.

Demo: a new lead writes on WhatsApp (fake Evolution posts the webhooks), the agent answers and qualifies
the lead, a deal and its contract are created through backoffice-api, both signers sign in fake
Autentique, and fake Graph API receives the lead, the qualified lead and the purchase. The bus is read
only to learn the lead's id (``lead.created`` carries the WhatsApp id the demo wrote from) and to wait.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from backoffice_client import AsyncBackofficeClient
from eventbus import Bus, Envelope
from redis.exceptions import RedisError

from wolfgang import operator_keys
from wolfgang.console import CliError
from wolfgang.demo_desk import SIGNERS, DemoFailed, Desk, Report
from wolfgang.demo_desk import eventually as _eventually
from wolfgang.demo_desk import ok as _ok
from wolfgang.events import history
from wolfgang.system import (
    INSTANCE,
    INSTANCE_APIKEY,
    INSTANCE_WEBHOOK_SECRET,
    PIXEL_ID,
    PIXEL_TOKEN,
    WABA_ID,
    System,
)

DEMO_COMPANY = "cmp_01JDEM0C0MPANY000000000000"
# Evolution's global key: the fake accepts it for every instance, as the real server does.
FAKE_EVOLUTION_AUTH = {"apikey": "fake-evolution-global-apikey"}


@dataclass
class Seed:
    company_id: str
    api_key: str | None
    key_id: str | None
    instance_id: str | None = None
    problems: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    lead_id: str
    replies: int
    deal_id: str
    contract_id: str
    conversions: list[str]
    seconds: float
    #: The deal's stages, oldest first (``new`` … ``won``), as its history shows them.
    stages: list[str] = field(default_factory=list)
    #: Signers the operator reminded before they signed.
    reminded: int = 0


class Demo:
    def __init__(
        self, system: System, bus: Bus, http: httpx.AsyncClient, *, state: Path, report: Report
    ) -> None:
        self.system = system
        self.bus = bus
        self.http = http
        self.state = state
        self.report = report
        self.desk = Desk(system, http, report)

    # -- seed ---------------------------------------------------------------------------------------------

    async def seed(self) -> Seed:
        """Everything a person needs to try the system by hand; a failing part is reported, not fatal."""
        saved = self._load()
        company = saved.get("company_id", DEMO_COMPANY)
        seed = Seed(company, None, None)
        for label, step in (
            ("operator API key", self._operator_key),
            ("WhatsApp instance", self._instance),
            ("Conversions API settings", self._capi),
        ):
            try:
                await step(seed, saved)
                self.report(f"[green]✓[/] seeded {label}")
            except (
                CliError,
                httpx.HTTPError,
                RedisError,
                KeyError,
                ValueError,
            ) as exc:
                seed.problems.append(f"{label}: {exc}")
                self.report(f"[yellow]![/] could not seed {label}: {exc}")
        self._save({"company_id": seed.company_id, "api_key": seed.api_key, "key_id": seed.key_id})
        return seed

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.state.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _save(self, data: dict[str, Any]) -> None:
        self.state.parent.mkdir(parents=True, exist_ok=True)
        self.state.write_text(json.dumps(data, indent=2) + "\n")
        self.state.chmod(0o600)  # it holds an API key

    async def _operator_key(self, seed: Seed, saved: dict[str, Any]) -> None:
        """The saved key while backoffice-api still accepts it; else a new one from its admin route."""
        api = self.system.url("backoffice-api")
        key = saved.get("api_key")
        if isinstance(key, str) and saved.get("company_id") == seed.company_id:
            key_id = await operator_keys.usable(self.http, api, key, seed.company_id)
            if key_id is not None:
                seed.api_key, seed.key_id = key, key_id
                return
        admin = self.system.credential("BACKOFFICE_ADMIN_TOKEN")
        made = await operator_keys.create(
            self.http, api, admin, company_id=seed.company_id, name="demo operator"
        )
        seed.api_key, seed.key_id = made.api_key, made.key_id

    async def _instance(self, seed: Seed, saved: dict[str, Any]) -> None:
        body = {
            "company_id": seed.company_id,
            "webhook_secret": INSTANCE_WEBHOOK_SECRET,
            "api_key": INSTANCE_APIKEY,
            "channel": "whatsapp",
        }
        url = f"{self.system.url('evolution-manager')}/v1/instances/{INSTANCE}"
        auth = self._operator("EVOLUTION_OPERATOR_TOKEN")
        instance = _ok(await self.http.put(url, json=body, headers=auth), "registering the instance")
        seed.instance_id = instance.get("instance_id")
        hook = {
            "webhook": {
                "enabled": True,
                "url": f"{self.system.url('evolution-manager')}/webhooks/evolution",
                # evolution-manager's EVOLUTION_WEBHOOK_SECRET_HEADER; Evolution sends webhook.headers as is.
                "headers": {"x-shared-secret": INSTANCE_WEBHOOK_SECRET},
                "byEvents": False,
                "base64": False,
                "events": ["MESSAGES_UPSERT", "CONNECTION_UPDATE"],
            }
        }
        url = f"{self.system.url('fake-evolution')}/webhook/set/{INSTANCE}"
        _ok(await self.http.post(url, json=hook, headers=FAKE_EVOLUTION_AUTH), "pointing Evolution's webhook")

    async def _capi(self, seed: Seed, saved: dict[str, Any]) -> None:
        body = {"pixel_id": PIXEL_ID, "access_token": PIXEL_TOKEN, "waba_id": WABA_ID, "enabled": True}
        url = f"{self.system.url('facebook-capi')}/v1/companies/{seed.company_id}/capi"
        auth = self._operator("CAPI_ADMIN_TOKEN")
        _ok(await self.http.put(url, json=body, headers=auth), "configuring the Conversions API")

    def _operator(self, variable: str) -> dict[str, str]:
        """The platform operator's own credential for one service (``wolfgang.credentials``)."""
        return {"Authorization": f"Bearer {self.system.credential(variable)}"}

    # -- the demo -----------------------------------------------------------------------------------------

    async def play(self, seed: Seed) -> Outcome:
        if seed.problems:
            raise DemoFailed("the seed is incomplete: " + "; ".join(seed.problems))
        assert seed.api_key is not None
        started = time.monotonic()
        # A new number each run: a rerun reuses the data, and an old lead's conversation is already over.
        number = f"55119{random.randint(10_000_000, 99_999_999)}"
        external_id = f"wa:+{number}"
        party = date.today() + timedelta(days=75)
        conversation = (
            "Oi! Boa tarde, quero fazer a festa do meu casamento com vocês",
            f"Vai ser dia {party:%d/%m/%Y}, para uns 120 convidados",
            "Nosso orçamento é de R$ 30 mil, em São Paulo",
        )
        since = datetime.now(UTC) - timedelta(seconds=5)
        replies = 0
        for text in conversation:
            replies = await self.say(number, text, replies)
        self.report(f"[green]✓[/] the agent answered {replies} time(s) on WhatsApp")

        created = await _eventually(
            "lead.created for the demo lead",
            lambda: self.find("lead.created", since, lambda e: e.payload.lead_external_id == external_id),
        )
        lead_id = created.payload.lead_id
        self.report(f"[green]✓[/] lead {lead_id} created")
        qualified = await _eventually(
            "lead.qualified (the agent did not qualify the lead)",
            lambda: self.find("lead.qualified", since, lambda e: e.payload.lead_id == lead_id),
        )
        self.report(f"[green]✓[/] lead qualified, score {qualified.payload.score:.2f}")

        async with AsyncBackofficeClient(self.system.url("backoffice-api"), api_key=seed.api_key) as api:
            await self.desk.operator_replies(api, lead_id, number)
            contract, deal_id = await self.desk.sell(api, lead_id, party)
            contract_id, document_id = contract.contract_id, contract.document_id
            if not document_id:
                raise DemoFailed(f"the contract has no Autentique document id: {contract}")
            self.report(f"[green]✓[/] deal {deal_id} and contract {contract_id} created")
            reminded = await self.desk.remind(api, deal_id, contract_id)

        fake_autentique = self.system.url("fake-autentique")
        for index in range(len(SIGNERS)):
            url = f"{fake_autentique}/_fake/documents/{document_id}/sign"
            _ok(await self.http.post(url, json={"signer": index}), f"signer {index + 1} signing")
        signed = await _eventually(
            "contract.signed",
            lambda: self.find("contract.signed", since, lambda e: e.payload.contract_id == contract_id),
        )
        self.report(f"[green]✓[/] both signers signed: contract.signed {signed.id}")
        async with AsyncBackofficeClient(self.system.url("backoffice-api"), api_key=seed.api_key) as api:
            stages = await _eventually(
                "the deal won in backoffice-api", lambda: self.desk.at_stage(api, deal_id, "won")
            )
        self.report(f"[green]✓[/] deal {deal_id} won (it followed the signed contract): {' → '.join(stages)}")

        wanted = {created.id: "lead", qualified.id: "qualified lead", signed.id: "purchase"}
        conversions = await _eventually(
            "the three conversions at the fake Graph API", lambda: self._conversions(set(wanted))
        )
        names = [conversions[event_id] for event_id in wanted]
        self.report(f"[green]✓[/] the Graph API received {', '.join(names)}")
        async with AsyncBackofficeClient(self.system.url("backoffice-api"), api_key=seed.api_key) as api:
            shown = await _eventually(
                "the three conversions sent, on the lead in backoffice-api",
                lambda: self.desk.reported(api, lead_id, set(wanted)),
            )
            sale = await _eventually(
                "the purchase on the deal", lambda: self.desk.deal_reported(api, deal_id, signed.id)
            )
        self.report(f"[green]✓[/] the operator sees them on the lead: {shown}; on the deal: {sale}")
        seconds = time.monotonic() - started
        return Outcome(lead_id, replies, deal_id, contract_id, names, seconds, stages, reminded)

    async def say(self, number: str, text: str, replies_before: int) -> int:
        """Send one message as the lead and wait for the agent's answer; returns replies so far."""
        fake = self.system.url("fake-evolution")
        body = {"instance": INSTANCE, "template": "text", "params": {"from_number": number, "text": text}}
        sent = _ok(await self.http.post(f"{fake}/_fake/webhooks/send", json=body), "fake Evolution's webhook")
        delivery = sent.get("delivery", {})
        if not delivery.get("delivered"):
            attempts = delivery.get("attempts", [])
            last = attempts[-1] if attempts else {}
            raise DemoFailed(
                f"evolution-manager refused the webhook: {last.get('status') or last.get('error')}"
            )
        self.report(f'lead wrote: "{text}"')

        async def answered() -> int | None:
            response = await self.http.get(f"{fake}/_fake/sent")
            count = sum(1 for s in response.json() if s["request"].get("number", "").lstrip("+") == number)
            return count if count > replies_before else None

        return await _eventually("the agent's answer on WhatsApp", answered)

    async def find(
        self, event_type: str, since: datetime, match: Callable[[Envelope[Any]], bool]
    ) -> Envelope[Any] | None:
        for entry in await history(self.bus, event_type, since, limit=200):
            if entry.event is not None and match(entry.event):
                return entry.event
        return None

    async def _conversions(self, event_ids: set[str]) -> dict[str, str] | None:
        response = await self.http.get(
            f"{self.system.url('fake-graph')}/_fake/events", params={"pixel_id": PIXEL_ID}
        )
        events = [r["event"] for r in response.json()]
        got = {e.get("event_id"): e.get("event_name") for e in events if e.get("event_id") in event_ids}
        return got if len(got) == len(event_ids) else None
