"""Deals: created through the API for a lead, the one fact here that no event carries (kept across rebuilds).

A deal holds what a contract needs (value, currency, event details), the lead's correlation id (so that the
contract's events stay on the lead's thread), the contract's id once autentique-service made it, and its place
in the pipeline: a stage, an owner and the history of its stage changes (who, when, why).

Writes are optimistic: a change is decided on the version read (transition rules, ``If-Match``) and written by
``lua/deal.lua`` only if the deal is still at that version, together with its index memberships. A write
without ``If-Match`` that loses a race is decided again on the new version; one with it is refused (412).

Indexes: one lexicographic sorted set per stage × owner combination (members ``<created ms, 16 digits>:<deal
id>``, as the lead indexes) and one per lead, so a stage and owner filter plus a creation range is one
``ZRANGE … BYLEX``. Value and update-time filters are checked on the documents, over a bounded number of them
per page (``SCAN_BUDGET``): a page costs the same whatever the number of deals, and may come back short with a
cursor to continue.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from eventbus import Client, envelope
from servicekit import Conflict, NotFound, PreconditionFailed

from backoffice_api.keyspace import Keyspace
from backoffice_api.pipeline import (
    EVENT_FIELDS,
    NEXT,
    StageNotAllowed,
    entered,
    follow,
    matches,
    member,
    new_deal_id,
    normalized,
)

# The pipeline's rules; the names other modules import stay importable from here (``X as X``: re-exported).
from backoffice_api.pipeline import RULE as RULE
from backoffice_api.pipeline import Actor as Actor
from backoffice_api.pipeline import DealFilter as DealFilter
from backoffice_api.pipeline import IdempotencyKeyReused as IdempotencyKeyReused
from backoffice_api.pipeline import etag as etag
from backoffice_api.store import lex_range, lua

#: Documents a filtered page examines at most; past it the page ends early with a cursor to continue.
SCAN_BUDGET = 1000
#: How often a write without If-Match is decided again after losing a race before giving up (409).
ATTEMPTS = 5


@dataclass(frozen=True)
class DealPage:
    deals: list[dict[str, Any]]
    #: The index member to continue after, when more may follow.
    last: str | None


class Deals:
    def __init__(self, redis: Client, keyspace: Keyspace) -> None:
        self.redis = redis
        self.ks = keyspace
        self._cas = redis.register_script(lua("deal"))

    # -- reads ------------------------------------------------------------------------------------------

    async def get(self, company: str, deal_id: str) -> dict[str, Any] | None:
        raw = await self.redis.get(self.ks.deal(company, deal_id))
        return None if raw is None else normalized(dict(json.loads(raw)))

    async def page(self, company: str, want: DealFilter, *, after: str | None, limit: int) -> DealPage:
        """Newest first. Without value or update-time filters: one range read and the page's documents. With
        them: chunks of the range until the page is full or ``SCAN_BUDGET`` documents were examined."""
        if want.lead_id is not None:
            index = self.ks.deals_of_lead(company, want.lead_id)
        else:
            index = self.ks.deal_index(company, want.stage, want.owner)
        rows: list[dict[str, Any]] = []
        examined = rounds = 0
        while True:
            upper, lower = lex_range(after=after, created_from=want.created_from, created_to=want.created_to)
            # Filtered: a chunk twice the page, doubling while the filters keep rejecting, within the budget.
            chunk = (
                limit + 1
                if not want.residual()
                else min(max(limit * 2, 20) << rounds, SCAN_BUDGET - examined)
            )
            rounds += 1
            members: list[str] = await self.redis.zrange(  # type: ignore[assignment]
                index, upper, lower, desc=True, bylex=True, offset=0, num=chunk
            )
            if not want.residual():
                docs = await self._docs(company, members[:limit])
                found = [deal for deal in docs if deal is not None]
                return DealPage(found, members[limit - 1] if len(members) > limit else None)
            docs = await self._docs(company, members)
            for deal, position in zip(docs, members, strict=True):
                examined += 1
                if deal is not None and want.accepts(deal):
                    rows.append(deal)
                    if len(rows) == limit:
                        return DealPage(rows, position)
            if len(members) < chunk:
                return DealPage(rows, None)  # the range is exhausted
            after = members[-1]
            if examined >= SCAN_BUDGET:
                return DealPage(rows, after)

    async def _docs(self, company: str, members: list[str]) -> list[dict[str, Any] | None]:
        if not members:
            return []
        # One MGET: the deals share the company's hash tag, so it is one slot on a cluster too.
        keys = [self.ks.deal(company, position.split(":", 1)[1]) for position in members]
        raws: list[bytes | str | None] = await self.redis.mget(keys)
        # A member whose deal is gone would be a bug; it is skipped rather than failing the page.
        return [None if raw is None else normalized(json.loads(raw)) for raw in raws]

    # -- writes -----------------------------------------------------------------------------------------

    async def create(
        self,
        company: str,
        *,
        lead_id: str,
        value: float,
        currency: str,
        event: dict[str, Any],
        by: Actor | None = None,
        owner: str | None = None,
        correlation_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """``correlation_id``: the lead's (its ``lead.created``'s), which the deal's contract events carry;
        ``by``: who made it (None: not known, e.g. a deal made by a script). With ``idempotency_key`` a repeat
        of the same request answers the deal it made (``created`` False), for the deal's life; another request
        with the key is ``IdempotencyKeyReused``. ``created`` tells whether a call made it."""
        deal, _ = await self.created(
            company,
            lead_id=lead_id,
            value=value,
            currency=currency,
            event=event,
            by=by,
            owner=owner,
            correlation_id=correlation_id,
            idempotency_key=idempotency_key,
        )
        return deal

    async def created(
        self,
        company: str,
        *,
        lead_id: str,
        value: float,
        currency: str,
        event: dict[str, Any],
        by: Actor | None,
        owner: str | None,
        correlation_id: str | None,
        idempotency_key: str | None,
    ) -> tuple[dict[str, Any], bool]:
        """``create``, and whether this call made the deal (False: a repeat of its ``Idempotency-Key``)."""
        now = envelope.format_timestamp(envelope.now())
        asked = [lead_id, value, currency, event, owner]
        fingerprint = hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()
        deal: dict[str, Any] = {
            "deal_id": new_deal_id(company, idempotency_key),
            "company_id": company,
            "lead_id": lead_id,
            "value": value,
            "currency": currency,
            "event": {name: event.get(name) for name in EVENT_FIELDS},
            "contract_id": None,
            "correlation_id": correlation_id,
            "created_at": now,
            "updated_at": now,
            "stage": "new",
            "owner": owner,
            "lost_reason": None,
            "history": [
                {"stage": "new", "previous": None, "at": now, "by": by and by.public(), "reason": None}
            ],
            "version": 1,
        }
        if idempotency_key is not None:
            deal["request_fingerprint"] = fingerprint
        if await self._write(company, None, deal) == 1:
            return deal, True
        existing = await self.get(company, deal["deal_id"])
        if idempotency_key is None or existing is None:
            raise Conflict(f"deal {deal['deal_id']} exists")  # a ULID collision: not expected to happen
        if existing.get("request_fingerprint") != fingerprint:
            raise IdempotencyKeyReused("this Idempotency-Key made a deal from another request")
        return existing, False

    async def edit(
        self,
        company: str,
        deal_id: str,
        change: Callable[[dict[str, Any]], dict[str, Any] | None],
        *,
        if_match: str | None = None,
    ) -> dict[str, Any]:
        """Apply ``change`` (the deal read → the deal to write, or None for no change) atomically.

        ``NotFound`` when there is no such deal; ``PreconditionFailed`` when ``if_match`` does not match the
        version read or another write wins the race; ``change`` raises its own refusals."""
        for _ in range(ATTEMPTS):
            current = await self.get(company, deal_id)
            if current is None:
                raise NotFound(f"deal {deal_id} not found")
            if if_match is not None and not matches(if_match, current):
                raise PreconditionFailed(f"deal {deal_id} is at {etag(current)}, not {if_match}")
            wanted = change(json.loads(json.dumps(current)))
            if wanted is None:
                return current
            wanted["version"] = current["version"] + 1
            wanted["updated_at"] = envelope.format_timestamp(envelope.now())
            wanted.pop("indexed", None)
            written = await self._write(company, current, wanted)
            if written == 1:
                return wanted
            if written == -1:
                raise NotFound(f"deal {deal_id} not found")
            if if_match is not None:
                raise PreconditionFailed(f"deal {deal_id} changed while this request was written")
        raise Conflict(f"deal {deal_id} is being changed by many requests at once; retry")

    async def move(
        self, company: str, deal_id: str, stage: str, *, by: Actor, reason: str | None, if_match: str | None
    ) -> dict[str, Any]:
        """An operator's move. Moving to the stage the deal is in changes nothing (a retry is harmless)."""

        def moved(deal: dict[str, Any]) -> dict[str, Any] | None:
            if deal["stage"] == stage:
                return None
            if stage not in NEXT[deal["stage"]]:
                raise StageNotAllowed(deal["stage"], stage)
            return entered(deal, stage, by=by, reason=reason)

        return await self.edit(company, deal_id, moved, if_match=if_match)

    async def follow_contract(
        self, company: str, deal_id: str, stage: Literal["contract_sent", "won"], *, by: Actor
    ) -> dict[str, Any] | None:
        """What a contract says about its deal: made → ``contract_sent`` (from an earlier stage), signed →
        ``won`` (from any stage but ``won``: the customer signed). A replay finds the deal there already and
        changes nothing, so a stage is never entered twice. None when the deal is not ours."""

        try:
            return await self.edit(company, deal_id, lambda deal: follow(deal, stage, by=by))
        except NotFound:
            return None

    async def attach_contract(
        self, company: str, deal_id: str, contract_id: str, *, by: Actor
    ) -> dict[str, Any] | None:
        """Record the deal's contract, and its stage ``contract_sent`` as its event will. Two requests racing
        here write the same id: autentique-service keeps one contract per deal."""

        def attached(deal: dict[str, Any]) -> dict[str, Any] | None:
            followed = follow(deal, "contract_sent", by=by)
            if deal["contract_id"] == contract_id and followed is None:
                return None
            deal["contract_id"] = contract_id
            return deal

        try:
            return await self.edit(company, deal_id, attached)
        except NotFound:
            return None

    async def _write(self, company: str, current: dict[str, Any] | None, wanted: dict[str, Any]) -> int:
        before = self._indexes(company, current) if current and current.get("indexed", True) else set()
        after = self._indexes(company, wanted)
        leave, join = sorted(before - after), sorted(after - before)
        version = "" if current is None else str(current["version"])
        keys = [self.ks.deal(company, wanted["deal_id"]), *leave, *join]
        args: list[str | int] = [version, json.dumps(wanted, ensure_ascii=False), member(wanted), len(leave)]
        return int(await self._cas(keys=keys, args=args))

    def _indexes(self, company: str, deal: dict[str, Any]) -> set[str]:
        stage, owner = deal["stage"], deal.get("owner")
        keys = {
            self.ks.deal_index(company),
            self.ks.deal_index(company, stage),
            self.ks.deals_of_lead(company, deal["lead_id"]),
        }
        if owner:
            keys |= {self.ks.deal_index(company, owner=owner), self.ks.deal_index(company, stage, owner)}
        return keys
