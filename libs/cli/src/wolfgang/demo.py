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

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
from backoffice_client import AsyncBackofficeClient, BackofficeError, NotFound
from backoffice_client.models import Contract
from eventbus import Bus, Envelope
from redis.exceptions import RedisError

from wolfgang import operator_keys
from wolfgang.console import CliError
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

T = TypeVar("T")

DEMO_COMPANY = "cmp_01JDEM0C0MPANY000000000000"
STEP_TIMEOUT = 30.0
# Evolution's global key: the fake accepts it for every instance, as the real server does.
FAKE_EVOLUTION_AUTH = {"apikey": "fake-evolution-global-apikey"}
SIGNERS = [
    {"name": "Maria Souza", "email": "maria.souza@example.com", "delivery": "email"},
    {"name": "Loja Exemplo Ltda", "email": "contratos@example.com", "delivery": "email"},
]


class DemoFailed(CliError):
    """A demo step did not happen; the message says which and what was seen instead."""


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


Report = Callable[[str], None]


async def _eventually(what: str, check: Callable[[], Awaitable[T | None]]) -> T:
    deadline = time.monotonic() + STEP_TIMEOUT
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise DemoFailed(f"timed out after {STEP_TIMEOUT:.0f}s waiting for {what}")
        await asyncio.sleep(0.2)


def _ok(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code >= 400:
        raise DemoFailed(f"{what}: {response.request.method} {response.request.url} answered "
                         f"{response.status_code} {response.text[:300]}")  # fmt: skip
    body = response.json() if response.content else {}
    return body if isinstance(body, dict) else {"items": body}


class Demo:
    def __init__(
        self, system: System, bus: Bus, http: httpx.AsyncClient, *, state: Path, report: Report
    ) -> None:
        self.system = system
        self.bus = bus
        self.http = http
        self.state = state
        self.report = report

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
            replies = await self._say(number, text, replies)
        self.report(f"[green]✓[/] the agent answered {replies} time(s) on WhatsApp")

        created = await _eventually(
            "lead.created for the demo lead",
            lambda: self._find("lead.created", since, lambda e: e.payload.lead_external_id == external_id),
        )
        lead_id = created.payload.lead_id
        self.report(f"[green]✓[/] lead {lead_id} created")
        qualified = await _eventually(
            "lead.qualified (the agent did not qualify the lead)",
            lambda: self._find("lead.qualified", since, lambda e: e.payload.lead_id == lead_id),
        )
        self.report(f"[green]✓[/] lead qualified, score {qualified.payload.score:.2f}")

        async with AsyncBackofficeClient(self.system.url("backoffice-api"), api_key=seed.api_key) as api:
            await self._operator_replies(api, lead_id, number)
            contract, deal_id = await self._sell(api, lead_id, party)
        contract_id, document_id = contract.contract_id, contract.document_id
        if not document_id:
            raise DemoFailed(f"the contract has no Autentique document id: {contract}")
        self.report(f"[green]✓[/] deal {deal_id} and contract {contract_id} created")

        fake_autentique = self.system.url("fake-autentique")
        for index in range(len(SIGNERS)):
            url = f"{fake_autentique}/_fake/documents/{document_id}/sign"
            _ok(await self.http.post(url, json={"signer": index}), f"signer {index + 1} signing")
        signed = await _eventually(
            "contract.signed",
            lambda: self._find("contract.signed", since, lambda e: e.payload.contract_id == contract_id),
        )
        self.report(f"[green]✓[/] both signers signed: contract.signed {signed.id}")
        async with AsyncBackofficeClient(self.system.url("backoffice-api"), api_key=seed.api_key) as api:
            await _eventually("the deal won in backoffice-api", lambda: self._won(api, deal_id))
        self.report(f"[green]✓[/] deal {deal_id} won (it followed the signed contract)")

        wanted = {created.id: "lead", qualified.id: "qualified lead", signed.id: "purchase"}
        conversions = await _eventually(
            "the three conversions at the fake Graph API", lambda: self._conversions(set(wanted))
        )
        names = [conversions[event_id] for event_id in wanted]
        self.report(f"[green]✓[/] the Graph API received {', '.join(names)}")
        async with AsyncBackofficeClient(self.system.url("backoffice-api"), api_key=seed.api_key) as api:
            shown = await _eventually(
                "the three conversions sent, on the lead in backoffice-api",
                lambda: self._reported(api, lead_id, set(wanted)),
            )
        self.report(f"[green]✓[/] the operator sees them on the lead: {shown}")
        return Outcome(lead_id, replies, deal_id, contract_id, names, time.monotonic() - started)

    async def _sell(self, api: AsyncBackofficeClient, lead_id: str, party: date) -> tuple[Contract, str]:
        """The operator's part, through backoffice_client: a deal for the lead, moved along the pipeline (each
        move conditional on the version read), then its contract."""
        try:
            await _eventually("the lead in backoffice-api", lambda: self._lead(api, lead_id))
            deal = await api.create_deal(
                lead_id,
                value=30000.0,
                currency="BRL",
                event={
                    "type": "casamento",
                    "date": party.isoformat(),
                    "guests": 120,
                    "location": "São Paulo",
                },
                owner="demo.operator",
            )
            for stage in ("qualified", "proposal"):
                deal = await api.move_deal(deal.deal_id, stage, if_match=deal.etag)
            self.report(f"[green]✓[/] deal {deal.deal_id} moved new → qualified → proposal")
            return await api.create_contract(deal.deal_id, SIGNERS), deal.deal_id
        except BackofficeError as exc:
            raise DemoFailed(f"backoffice-api: {exc}") from exc

    async def _operator_replies(self, api: AsyncBackofficeClient, lead_id: str, number: str) -> None:
        """A person takes over: an operator's reply from the desk (through backoffice_client, sent once even
        if retried; the lead is handed off first), then a colleague's message typed on the business's phone,
        both in the lead's timeline."""
        text = "Olá! Aqui é a Ana, da equipe. Já separei duas datas de visita para vocês."
        try:
            await _eventually("the lead in backoffice-api", lambda: self._lead(api, lead_id))
            sent = await api.send_message(lead_id, text, idempotency_key=f"demo-reply-{lead_id}")
        except BackofficeError as exc:
            raise DemoFailed(f"backoffice-api: {exc}") from exc
        await _eventually("the operator's reply on WhatsApp", lambda: self._sent_text(number, text))
        handed = "handed off, then " if sent.handed_off else ""
        self.report(f"[green]✓[/] operator's reply {handed}sent once on WhatsApp ({sent.event_id})")
        fake = self.system.url("fake-evolution")
        typed = "Oi Maria, aqui é o Carlos, sócio da Ana. Qualquer dúvida me chame!"
        params = {"from_number": number, "text": typed, "from_me": True}
        body = {"instance": INSTANCE, "template": "text", "params": params}
        _ok(await self.http.post(f"{fake}/_fake/webhooks/send", json=body), "fake Evolution's webhook")

        async def shown() -> bool | None:
            timeline = (await api.get_lead(lead_id, timeline_limit=20)).timeline
            return True if any(e.details.get("via") == "phone" for e in timeline) else None

        await _eventually("the phone message in the lead's timeline", shown)
        self.report("[green]✓[/] a message typed on the phone shows in the timeline (the agent stays silent)")

    async def _sent_text(self, number: str, text: str) -> bool | None:
        response = await self.http.get(f"{self.system.url('fake-evolution')}/_fake/sent")
        found = [s for s in response.json() if s["request"].get("number", "").lstrip("+") == number]
        return True if any(s["request"].get("text") == text for s in found) else None

    @staticmethod
    async def _lead(api: AsyncBackofficeClient, lead_id: str) -> bool:
        try:
            await api.get_lead(lead_id, timeline_limit=1)
        except NotFound:
            return False
        return True

    @staticmethod
    async def _won(api: AsyncBackofficeClient, deal_id: str) -> bool:
        try:
            return (await api.get_deal(deal_id)).stage == "won"
        except BackofficeError as exc:
            raise DemoFailed(f"backoffice-api: {exc}") from exc

    @staticmethod
    async def _reported(api: AsyncBackofficeClient, lead_id: str, event_ids: set[str]) -> str | None:
        """What facebook-capi reported to Meta for the lead, as backoffice-api shows it, once all are sent."""
        try:
            seen = {c.source_event_id: c for c in await api.lead_conversions(lead_id)}
        except BackofficeError as exc:
            raise DemoFailed(f"backoffice-api: {exc}") from exc
        if not all(seen.get(e) is not None and seen[e].outcome == "sent" for e in event_ids):
            return None
        return ", ".join(
            f"{seen[e].event_name} {seen[e].outcome}"
            for e in sorted(event_ids, key=lambda e: seen[e].reported_at)
        )

    async def _say(self, number: str, text: str, replies_before: int) -> int:
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

    async def _find(
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
