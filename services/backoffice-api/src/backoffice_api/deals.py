"""Deals: created through the API for a lead, the one fact here that no event carries (kept across rebuilds).

A deal holds what a contract needs (value, currency, event details), the lead's correlation id (so that the
contract's events stay on the lead's thread) and, once autentique-service made it, the contract's id. Asking
twice for a deal's contract is safe: autentique-service answers the existing one for a deal that already has
it, and a re-issue carries an `Idempotency-Key` (routes/deals.py).
"""

from __future__ import annotations

import json
from typing import Any

from eventbus import Client, envelope
from ulid import ULID

from backoffice_api.keyspace import Keyspace


def new_deal_id() -> str:
    return f"deal_{ULID()}"


class Deals:
    def __init__(self, redis: Client, keyspace: Keyspace) -> None:
        self.redis = redis
        self.ks = keyspace

    async def create(
        self,
        company: str,
        *,
        lead_id: str,
        value: float,
        currency: str,
        event: dict[str, Any],
        correlation_id: str | None = None,
    ) -> dict[str, Any]:
        """``correlation_id``: the lead's (its ``lead.created``'s), which the deal's contract events carry."""
        deal: dict[str, Any] = {
            "deal_id": new_deal_id(),
            "company_id": company,
            "lead_id": lead_id,
            "value": value,
            "currency": currency,
            "event": event,
            "contract_id": None,
            "correlation_id": correlation_id,
            "created_at": envelope.format_timestamp(envelope.now()),
        }
        await self.redis.set(self.ks.deal(company, deal["deal_id"]), json.dumps(deal))
        return deal

    async def get(self, company: str, deal_id: str) -> dict[str, Any] | None:
        raw = await self.redis.get(self.ks.deal(company, deal_id))
        return None if raw is None else dict(json.loads(raw))

    async def attach_contract(self, company: str, deal_id: str, contract_id: str) -> dict[str, Any] | None:
        """Record the deal's contract. Two requests racing here write the same id: autentique-service keeps
        one contract per deal."""
        deal = await self.get(company, deal_id)
        if deal is None:
            return None
        deal["contract_id"] = contract_id
        await self.redis.set(self.ks.deal(company, deal_id), json.dumps(deal))
        return deal
