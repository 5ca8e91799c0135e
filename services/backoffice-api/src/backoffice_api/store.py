"""The read models in Redis: applying projection ops once per event, and the queries the API makes.

Every query is a bounded read of keys we maintain on write — a lexicographic range over an index, a hash, a
capped sorted set — never SCAN or KEYS, so a page of leads costs the same with a thousand leads or a million.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from eventbus import Client
from servicekit.lua import script

from backoffice_api.keyspace import Keyspace
from backoffice_api.projections import Op


def lua(name: str) -> str:
    return script("backoffice_api", name)


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, str]]
    #: The last index member of this page when more may follow (the next page starts after it).
    last: str | None


def lex_range(*, after: str | None, created_from: int | None, created_to: int | None) -> tuple[str, str]:
    """``ZRANGE … BYLEX REV`` bounds (newest first): below the cursor and ``created_to`` (exclusive), from
    ``created_from`` (inclusive). Members are ``<16-digit ms>:<id>``, so a bare ms prefix sorts before them."""
    upper = "+"
    if created_to is not None:
        upper = f"({created_to:016d}"
    if after is not None and (upper == "+" or f"({after}" < upper):
        upper = f"({after}"
    lower = "-" if created_from is None else f"[{created_from:016d}"
    return upper, lower


class ReadModels:
    def __init__(self, redis: Client, keyspace: Keyspace, *, marker_ttl: timedelta) -> None:
        self.redis = redis
        self.ks = keyspace
        self._marker_ms = int(marker_ttl.total_seconds() * 1000)
        self._apply = redis.register_script(lua("apply"))
        self._page = redis.register_script(lua("page"))

    async def apply(self, company: str, event_id: str, ops: list[Op]) -> bool:
        """Run ``ops`` atomically unless this event was applied already; True when they ran."""
        touched = [op[1] for op in ops]
        if any(op[0] == "reindex" for op in ops):
            touched += self.ks.lead_indexes(company)
        marker = self.ks.applied(company, event_id)
        minute = self.ks.applied_minute(company, event_id)
        if minute is None:
            keys, member = [marker, marker, *dict.fromkeys(touched)], ""
        else:
            keys, member = [marker, minute[0], *dict.fromkeys(touched)], minute[1]
        return bool(await self._apply(keys=keys, args=[self._marker_ms, json.dumps(ops), member]))

    # -- leads ------------------------------------------------------------------------------------------

    async def lead(self, company: str, lead_id: str) -> dict[str, str] | None:
        """A lead once ``lead.created`` was seen (facts that arrived earlier wait in the same hash)."""
        row = cast("dict[str, str]", await self.redis.hgetall(self.ks.lead(company, lead_id)))
        return row if row.get("member") else None

    async def leads(
        self,
        company: str,
        *,
        status: str | None,
        source: str | None,
        created_from: int | None,
        created_to: int | None,
        after: str | None,
        limit: int,
    ) -> Page:
        upper, lower = lex_range(after=after, created_from=created_from, created_to=created_to)
        index = self.ks.lead_index(company, status, source)
        members: list[str] = await self.redis.zrange(  # type: ignore[assignment]
            index, upper, lower, desc=True, bylex=True, offset=0, num=limit + 1
        )
        more = len(members) > limit
        ids = [member.split(":", 1)[1] for member in members[:limit]]
        return Page(await self.documents(company, ids), members[limit - 1] if more else None)

    async def documents(self, company: str, ids: list[str]) -> list[dict[str, str]]:
        """These leads' documents with their handoff flags, in one script (a lead not created yet is left out).

        Its keys are the leads, declared (Redis Cluster), so they can only be named once an index range is
        read. One slot: the company's tag."""
        if not ids:
            return []
        keys = [*(self.ks.lead(company, lead_id) for lead_id in ids), self.ks.handoff(company)]
        flat = await self._page(keys=keys, args=["doc", *ids])
        rows = []
        for doc, handoff in zip(flat[0::2], flat[1::2], strict=True):
            if doc:
                row = json.loads(doc)
                if handoff:
                    row["handoff"] = handoff
                rows.append(row)
        return rows

    async def names(
        self, company: str, prefix: str, *, after: str | None, limit: int
    ) -> tuple[list[str], bool]:
        """Up to ``limit`` members of the name index starting with ``prefix`` (after ``after``), and whether
        more follow: one ``ZRANGE BYLEX`` whatever the number of leads."""
        lower = b"(" + after.encode() if after is not None else b"[" + prefix.encode()
        upper = b"(" + prefix.encode() + b"\xff"  # above every UTF-8 continuation of the prefix
        found: list[str] = await self.redis.zrange(  # type: ignore[assignment]
            self.ks.lead_names(company), lower, upper, bylex=True, offset=0, num=limit + 1
        )
        return found[:limit], len(found) > limit

    async def leads_of_contacts(self, company: str, contacts: list[str]) -> dict[str, str]:
        """Contact id (``wa:…``) → lead id, for the contacts that have a lead (one ``HMGET``)."""
        if not contacts:
            return {}
        ids = await self.redis.hmget(self.ks.lead_by_external(company), contacts)
        return {contact: str(lead) for contact, lead in zip(contacts, ids, strict=True) if lead}

    async def timeline(self, company: str, lead: dict[str, str], *, limit: int) -> list[dict[str, Any]]:
        """Newest first: the lead's own events merged with its contact's messages."""
        keys = [self.ks.timeline(company, lead_id=lead["lead_id"])]
        if lead.get("external_id"):
            keys.append(self.ks.timeline(company, external_id=lead["external_id"]))
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.zrange(key, 0, limit - 1, desc=True, withscores=True)
            parts: list[list[tuple[str, float]]] = await pipe.execute()
        merged = sorted((m for part in parts for m in part), key=lambda m: (m[1], m[0]), reverse=True)
        return [json.loads(member) for member, _ in merged[:limit]]

    async def last_messages(self, company: str, contacts: list[str | None]) -> list[dict[str, Any] | None]:
        """Each contact's newest message entry (a contact's timeline holds only its messages), in one round
        trip; None for a lead without a contact or a message."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for contact in contacts:
                if contact:
                    pipe.zrange(self.ks.timeline(company, external_id=contact), -1, -1)
            newest = iter(await pipe.execute() if any(contacts) else [])
        found: list[dict[str, Any] | None] = []
        for contact in contacts:
            members = next(newest) if contact else []
            found.append(json.loads(members[0]) if members else None)
        return found

    # -- contracts --------------------------------------------------------------------------------------

    async def contract(self, company: str, contract_id: str) -> dict[str, str] | None:
        row = cast("dict[str, str]", await self.redis.hgetall(self.ks.contract(company, contract_id)))
        return row if row.get("contract_id") else None

    async def contracts(self, company: str, *, after: str | None, limit: int) -> Page:
        upper, lower = lex_range(after=after, created_from=None, created_to=None)
        members: list[str] = await self.redis.zrange(  # type: ignore[assignment]
            self.ks.contract_index(company), upper, lower, desc=True, bylex=True, offset=0, num=limit + 1
        )
        more = len(members) > limit
        members = members[:limit]
        async with self.redis.pipeline(transaction=False) as pipe:
            for member in members:
                pipe.hgetall(self.ks.contract(company, member.split(":", 1)[1]))
            rows: list[dict[str, str]] = await pipe.execute()
        return Page([r for r in rows if r], members[-1] if more and members else None)

    async def remember_contract(self, company: str, contract: dict[str, Any]) -> None:
        """What autentique-service answered when we asked for a contract: visible before its event arrives.
        Only fields no event carries (signers) or that the event would set to the same value. Never a
        signer's ``link``: it lets whoever holds it sign, and it stays with autentique-service."""
        key = self.ks.contract(company, contract["contract_id"])
        signers = [{k: v for k, v in s.items() if k != "link"} for s in contract.get("signers") or []]
        await self.redis.hset(
            key,
            mapping={
                "contract_id": contract["contract_id"],
                "company_id": company,
                "deal_id": contract["deal_id"],
                "signers": json.dumps(signers),
            },
        )

    async def remember_signers(self, company: str, contract_id: str, signers: list[dict[str, Any]]) -> None:
        """autentique-service's live signer progress, so that the list shows what the last detail showed."""
        public = [{k: v for k, v in s.items() if k != "link"} for s in signers]
        await self.redis.hset(self.ks.contract(company, contract_id), "signers", json.dumps(public))

    async def mark_cancelled(self, company: str, contract_id: str, at: str) -> None:
        await self.redis.hsetnx(self.ks.contract_cancellations(company), contract_id, at)

    async def cancellations(self, company: str, contract_ids: list[str]) -> dict[str, str]:
        if not contract_ids:
            return {}
        at = await self.redis.hmget(self.ks.contract_cancellations(company), contract_ids)
        return {cid: str(when) for cid, when in zip(contract_ids, at, strict=True) if when}

    # -- instances, metrics -----------------------------------------------------------------------------

    async def instance_statuses(self, company: str) -> dict[str, dict[str, Any]]:
        raw = cast("dict[str, str]", await self.redis.hgetall(self.ks.instance_status(company)))
        return {instance: json.loads(value) for instance, value in raw.items()}

    async def buckets(self, company: str, width: str, starts: list[int]) -> list[dict[str, str]]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for start in starts:
                pipe.hgetall(self.ks.bucket(company, width, start))
            rows: list[dict[str, str]] = await pipe.execute()
        return rows
