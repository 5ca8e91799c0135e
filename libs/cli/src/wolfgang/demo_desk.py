"""The operator's part of the demo (``demo.py``), through backoffice_client: taking over the conversation, moving
a deal along the pipeline, following its contract (reminded, signed, won) and reading what reached Meta; and
the demo's step helpers (wait for a step, check an answer, say which step failed)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

import httpx
from backoffice_client import AsyncBackofficeClient, BackofficeError, NotFound
from backoffice_client.models import Contract

from wolfgang.console import CliError
from wolfgang.system import INSTANCE, System

T = TypeVar("T")

STEP_TIMEOUT = 30.0
SIGNERS = [
    {"name": "Maria Souza", "email": "maria.souza@example.com", "delivery": "email"},
    {"name": "Loja Exemplo Ltda", "email": "contratos@example.com", "delivery": "email"},
]
Report = Callable[[str], None]


class DemoFailed(CliError):
    """A demo step did not happen; the message says which and what was seen instead."""


async def eventually(what: str, check: Callable[[], Awaitable[T | None]]) -> T:
    deadline = time.monotonic() + STEP_TIMEOUT
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise DemoFailed(f"timed out after {STEP_TIMEOUT:.0f}s waiting for {what}")
        await asyncio.sleep(0.2)


def ok(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code >= 400:
        raise DemoFailed(f"{what}: {response.request.method} {response.request.url} answered "
                         f"{response.status_code} {response.text[:300]}")  # fmt: skip
    body = response.json() if response.content else {}
    return body if isinstance(body, dict) else {"items": body}


@dataclass
class Desk:
    system: System
    http: httpx.AsyncClient
    report: Report

    async def sell(self, api: AsyncBackofficeClient, lead_id: str, party: date) -> tuple[Contract, str]:
        """The operator's part, through backoffice_client: a deal for the lead, moved along the pipeline (each
        move conditional on the version read), then its contract."""
        try:
            await eventually("the lead in backoffice-api", lambda: self.lead(api, lead_id))
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

    async def operator_replies(self, api: AsyncBackofficeClient, lead_id: str, number: str) -> None:
        """A person takes over: an operator's reply from the desk (through backoffice_client, sent once even
        if retried; the lead is handed off first), then a colleague's message typed on the business's phone,
        both in the lead's timeline."""
        text = "Olá! Aqui é a Ana, da equipe. Já separei duas datas de visita para vocês."
        try:
            await eventually("the lead in backoffice-api", lambda: self.lead(api, lead_id))
            sent = await api.send_message(lead_id, text, idempotency_key=f"demo-reply-{lead_id}")
        except BackofficeError as exc:
            raise DemoFailed(f"backoffice-api: {exc}") from exc
        await eventually("the operator's reply on WhatsApp", lambda: self.sent_text(number, text))
        handed = "handed off, then " if sent.handed_off else ""
        self.report(f"[green]✓[/] operator's reply {handed}sent once on WhatsApp ({sent.event_id})")
        fake = self.system.url("fake-evolution")
        typed = "Oi Maria, aqui é o Carlos, sócio da Ana. Qualquer dúvida me chame!"
        params = {"from_number": number, "text": typed, "from_me": True}
        body = {"instance": INSTANCE, "template": "text", "params": params}
        ok(await self.http.post(f"{fake}/_fake/webhooks/send", json=body), "fake Evolution's webhook")

        async def shown() -> bool | None:
            timeline = (await api.get_lead(lead_id, timeline_limit=20)).timeline
            return True if any(e.details.get("via") == "phone" for e in timeline) else None

        await eventually("the phone message in the lead's timeline", shown)
        self.report("[green]✓[/] a message typed on the phone shows in the timeline (the agent stays silent)")

    async def sent_text(self, number: str, text: str) -> bool | None:
        response = await self.http.get(f"{self.system.url('fake-evolution')}/_fake/sent")
        found = [s for s in response.json() if s["request"].get("number", "").lstrip("+") == number]
        return True if any(s["request"].get("text") == text for s in found) else None

    @staticmethod
    async def lead(api: AsyncBackofficeClient, lead_id: str) -> bool:
        try:
            await api.get_lead(lead_id, timeline_limit=1)
        except NotFound:
            return False
        return True

    @staticmethod
    async def won(api: AsyncBackofficeClient, deal_id: str) -> bool:
        try:
            return (await api.get_deal(deal_id)).stage == "won"
        except BackofficeError as exc:
            raise DemoFailed(f"backoffice-api: {exc}") from exc

    @staticmethod
    async def reported(api: AsyncBackofficeClient, lead_id: str, event_ids: set[str]) -> str | None:
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

    async def remind(self, api: AsyncBackofficeClient, deal_id: str, contract_id: str) -> int:
        """The deal follows its contract to ``contract_sent``; the operator reminds the signers who have not
        signed (once, whatever the retries: the request's idempotency key)."""
        try:
            await eventually(
                "the deal at contract_sent", lambda: self.at_stage(api, deal_id, "contract_sent")
            )
            reminder = await api.remind_signers(contract_id, idempotency_key=f"demo-remind-{contract_id}")
        except BackofficeError as exc:
            raise DemoFailed(f"backoffice-api: {exc}") from exc
        self.report(f"[green]✓[/] deal at contract_sent; {reminder.signers} signer(s) reminded to sign")
        return reminder.signers

    @staticmethod
    async def at_stage(api: AsyncBackofficeClient, deal_id: str, stage: str) -> list[str] | None:
        """The deal's stages, oldest first, once it reached ``stage``."""
        deal = await api.get_deal(deal_id)
        return [change.stage for change in deal.history] if deal.stage == stage else None

    @staticmethod
    async def deal_reported(api: AsyncBackofficeClient, deal_id: str, event_id: str) -> str | None:
        """The sale as the deal shows what reached Meta, once sent."""
        try:
            seen = {c.source_event_id: c for c in await api.deal_conversions(deal_id)}
        except BackofficeError as exc:
            raise DemoFailed(f"backoffice-api: {exc}") from exc
        sale = seen.get(event_id)
        return f"{sale.event_name} {sale.outcome}" if sale is not None and sale.outcome == "sent" else None
