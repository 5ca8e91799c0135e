"""The asyncio client: ``client.py``'s API with ``await`` (keep the two in step)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar, Unpack

import httpx
from tenacity import AsyncRetrying

from backoffice_client import calls, models
from backoffice_client.admin_calls import AsyncAdminMethods
from backoffice_client.calls import UNSET, Call, Unset

T = TypeVar("T", bound=models.Model)
DEFAULT_URL = "http://127.0.0.1:8000"


class AsyncBackofficeClient(AsyncAdminMethods):
    """backoffice-api over HTTP, with one company's API key.

    Requests that are safe to repeat (GET, PUT, DELETE, and a contract request, which always carries an
    ``Idempotency-Key``) are retried up to ``attempts`` times on a connection error, 429 (after its
    ``Retry-After``, if at most ``max_retry_wait``), 502, 503 or 504; others are tried once. Errors are the
    types of ``backoffice_client.errors``. ``http``: a ``httpx.AsyncClient`` of your own (its base URL and
    transport are used; the key is added per request)."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        api_key: str,
        timeout: float = 10.0,
        attempts: int = 3,
        max_retry_wait: float = 30.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._http = http or httpx.AsyncClient(base_url=base_url, timeout=timeout)
        self._owns_http = http is None
        self._headers = {"X-API-Key": api_key}
        self._attempts, self._max_wait = attempts, max_retry_wait

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncBackofficeClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def send(self, call: Call[T]) -> T:
        """One call, with the retries it allows."""
        async for attempt in AsyncRetrying(
            **calls.retry_policy(call, attempts=self._attempts, max_wait=self._max_wait)
        ):
            with attempt:
                return await self._once(call)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def _once(self, call: Call[T]) -> T:
        try:
            response = await self._http.request(
                call.method,
                call.path,
                params=call.params,
                json=call.json,
                headers=self._headers | call.headers,
            )
        except httpx.TransportError as exc:
            raise calls.send_error(exc) from exc
        return call.decode(response)

    # -- leads ------------------------------------------------------------------------------------------

    async def list_leads(self, **query: Unpack[calls.LeadsQuery]) -> models.LeadsPage:
        return await self.send(calls.list_leads(query))

    async def iter_leads(self, **query: Unpack[calls.LeadsQuery]) -> AsyncIterator[models.Lead]:
        """Every lead the filters select, newest first, page after page (``limit`` is the page size)."""
        while True:
            page = await self.list_leads(**query)
            for item in page.items:
                yield item
            if page.next_cursor is None:
                return
            query["cursor"] = page.next_cursor

    async def get_lead(self, lead_id: str, *, timeline_limit: int = 100) -> models.LeadDetail:
        return await self.send(calls.get_lead(lead_id, timeline_limit=timeline_limit))

    async def get_handoff(self, lead_id: str) -> models.Handoff:
        return await self.send(calls.get_handoff(lead_id))

    async def hand_off(self, lead_id: str, *, reason: str | None = None) -> models.Handoff:
        return await self.send(calls.hand_off(lead_id, reason=reason))

    async def give_back(self, lead_id: str) -> models.Handoff:
        return await self.send(calls.give_back(lead_id))

    async def find_lead(self, phone: str) -> models.LeadDetail:
        """The lead of a WhatsApp number, in any common spelling (``+55 11 99999-0000``); NotFound if none."""
        return await self.send(calls.find_lead(phone))

    async def find_leads_by_name(self, q: str, **query: Unpack[calls.NameQuery]) -> models.LeadMatches:
        """One page of the leads whose WhatsApp name or agent-learned name has a word starting with ``q``
        (two to 64 characters; case and accents do not matter)."""
        return await self.send(calls.find_leads_by_name(q, query))

    async def iter_leads_by_name(
        self, q: str, **query: Unpack[calls.NameQuery]
    ) -> AsyncIterator[models.LeadMatch]:
        """Every lead ``find_leads_by_name`` matches, page after page (``limit`` is the page size)."""
        while True:
            page = await self.find_leads_by_name(q, **query)
            for item in page.items:
                yield item
            if page.next_cursor is None:
                return
            query["cursor"] = page.next_cursor

    async def set_lead_owner(self, lead_id: str, owner: str) -> models.LeadOwner:
        return await self.send(calls.set_lead_owner(lead_id, owner))

    async def clear_lead_owner(self, lead_id: str) -> models.LeadOwner:
        return await self.send(calls.clear_lead_owner(lead_id))

    async def send_message(
        self, lead_id: str, text: str, *, idempotency_key: str | None = None
    ) -> models.OperatorMessage:
        """The operator's text to the lead through WhatsApp, once: retried with its ``Idempotency-Key``. A lead
        the agent is answering is handed off first."""
        return await self.send(calls.send_message(lead_id, text, idempotency_key=idempotency_key))

    async def add_note(self, lead_id: str, text: str) -> models.Note:
        return await self.send(calls.add_note(lead_id, text))

    async def list_notes(self, lead_id: str, **query: Unpack[calls.NotesQuery]) -> models.NotesPage:
        return await self.send(calls.list_notes(lead_id, query))

    async def iter_notes(self, lead_id: str, **query: Unpack[calls.NotesQuery]) -> AsyncIterator[models.Note]:
        """The lead's notes, newest first."""
        while True:
            page = await self.list_notes(lead_id, **query)
            for item in page.items:
                yield item
            if page.next_before is None:
                return
            query["before"] = page.next_before

    # -- deals ------------------------------------------------------------------------------------------

    async def create_deal(
        self,
        lead_id: str,
        *,
        value: float,
        currency: str = "BRL",
        event: models.EventDetails | Mapping[str, Any] | None = None,
        owner: str | None = None,
        idempotency_key: str | None = None,
    ) -> models.Deal:
        """Retried safely: the request carries an ``Idempotency-Key`` (yours, or a new one per call)."""
        return await self.send(
            calls.create_deal(
                lead_id,
                value=value,
                currency=currency,
                event=event,
                owner=owner,
                idempotency_key=idempotency_key,
            )
        )

    async def get_deal(self, deal_id: str) -> models.Deal:
        return await self.send(calls.get_deal(deal_id))

    async def lead_conversions(self, lead_id: str) -> list[models.Conversion]:
        """What was reported to Meta for the lead (its creation, qualification, sales) and each outcome."""
        return (await self.send(calls.lead_conversions(lead_id))).items

    async def deal_conversions(self, deal_id: str) -> list[models.Conversion]:
        """What was reported to Meta for the deal's sale, and the outcome."""
        return (await self.send(calls.deal_conversions(deal_id))).items

    async def list_deals(self, **query: Unpack[calls.DealsQuery]) -> models.DealsPage:
        return await self.send(calls.list_deals(query))

    async def iter_deals(self, **query: Unpack[calls.DealsQuery]) -> AsyncIterator[models.Deal]:
        """Every deal the filters select, newest first (filtered pages may be short: all are followed)."""
        while True:
            page = await self.list_deals(**query)
            for item in page.items:
                yield item
            if page.next_cursor is None:
                return
            query["cursor"] = page.next_cursor

    async def update_deal(
        self,
        deal_id: str,
        *,
        value: float | Unset = UNSET,
        currency: str | Unset = UNSET,
        event: models.EventDetails | Mapping[str, Any] | Unset = UNSET,
        owner: str | Unset | None = UNSET,
        if_match: str | None = None,
    ) -> models.Deal:
        """Change only what is given (``owner=None`` unassigns). ``if_match=deal.etag``: PreconditionFailed
        if the deal changed since it was read."""
        call = calls.update_deal(
            deal_id, value=value, currency=currency, event=event, owner=owner, if_match=if_match
        )
        return await self.send(call)

    async def move_deal(
        self,
        deal_id: str,
        stage: models.DealStage,
        *,
        reason: str | None = None,
        if_match: str | None = None,
    ) -> models.Deal:
        """Conflict when the pipeline forbids the move (its message names the rule); ``lost`` needs a reason."""
        return await self.send(calls.move_deal(deal_id, stage, reason=reason, if_match=if_match))

    async def create_contract(
        self,
        deal_id: str,
        signers: Sequence[models.NewSigner | Mapping[str, Any]],
        *,
        reissue: bool = False,
        idempotency_key: str | None = None,
    ) -> models.Contract:
        call = calls.create_contract(deal_id, signers, reissue=reissue, idempotency_key=idempotency_key)
        return await self.send(call)

    # -- contracts, instances, metrics --------------------------------------------------------------------

    async def list_contracts(self, **query: Unpack[calls.PageQuery]) -> models.ContractsPage:
        return await self.send(calls.list_contracts(query))

    async def iter_contracts(self, **query: Unpack[calls.PageQuery]) -> AsyncIterator[models.Contract]:
        while True:
            page = await self.list_contracts(**query)
            for item in page.items:
                yield item
            if page.next_cursor is None:
                return
            query["cursor"] = page.next_cursor

    async def get_contract(self, contract_id: str) -> models.Contract:
        return await self.send(calls.get_contract(contract_id))

    async def put_instance(
        self, name: str, *, webhook_secret: str | None = None, api_key: str | None = None
    ) -> models.Instance:
        return await self.send(calls.put_instance(name, webhook_secret=webhook_secret, api_key=api_key))

    async def list_instances(self) -> list[models.Instance]:
        return (await self.send(calls.list_instances())).items

    async def get_instance(self, name: str) -> models.Instance:
        return await self.send(calls.get_instance(name))

    async def get_agent_settings(self) -> models.AgentSettingsPublic:
        """The company's agent settings in effect (scope ``admin``)."""
        return await self.send(calls.get_agent_settings())

    async def put_agent_settings(self, settings: models.AgentSettings) -> models.AgentSettingsPublic:
        """Replace the company's agent settings whole (scope ``admin``); in effect within seconds."""
        return await self.send(calls.put_agent_settings(settings))

    async def me(self) -> models.KeyPublic:
        """The key this client calls with: its company and scopes."""
        return await self.send(calls.me())

    async def metrics(
        self, *, bucket: str = "1h", from_: datetime | None = None, to: datetime | None = None
    ) -> models.MetricsReport:
        return await self.send(calls.metrics(bucket=bucket, from_=from_, to=to))

    # -- events, operations ---------------------------------------------------------------------------------

    async def list_events(
        self, type: models.EventType, **query: Unpack[calls.EventsQuery]
    ) -> models.EventsPage:
        return await self.send(calls.list_events(type, query))

    async def iter_events(
        self, type: models.EventType, **query: Unpack[calls.EventsQuery]
    ) -> AsyncIterator[models.Event]:
        """The retained events of one channel, newest first, back to the oldest retained."""
        while True:
            page = await self.list_events(type, **query)
            for item in page.items:
                yield item
            if page.next_before is None:
                return
            query["before"] = page.next_before

    async def consumer_groups(self) -> list[models.GroupStats]:
        return (await self.send(calls.consumer_groups())).items

    async def list_dead_letters(
        self, channel: str, group: str, **query: Unpack[calls.DeadLettersQuery]
    ) -> models.DeadLettersPage:
        return await self.send(calls.list_dead_letters(channel, group, query))

    async def iter_dead_letters(
        self, channel: str, group: str, **query: Unpack[calls.DeadLettersQuery]
    ) -> AsyncIterator[models.DeadLetter]:
        while True:
            page = await self.list_dead_letters(channel, group, **query)
            for item in page.items:
                yield item
            if page.next_after is None:
                return
            query["after"] = page.next_after

    async def get_dead_letter(self, channel: str, group: str, dead_id: str) -> models.DeadLetter:
        return await self.send(calls.get_dead_letter(channel, group, dead_id))

    async def replay_dead_letters(self, channel: str, group: str, dead_id: str | None = None) -> int:
        """Replay one dead letter (``dead_id``) or all of this company's; returns how many."""
        return (await self.send(calls.replay_dead_letters(channel, group, dead_id))).replayed

    async def purge_dead_letters(self, channel: str, group: str, dead_id: str | None = None) -> int:
        """Purge one dead letter (``dead_id``) or all of this company's; returns how many."""
        return (await self.send(calls.purge_dead_letters(channel, group, dead_id))).purged
