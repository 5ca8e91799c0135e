"""Pure: one catalog event → the projection ops that record it (executed atomically by ``lua/apply.lua``).

Each op is order-independent, so the read models come out the same whatever order a company's events arrive
in: a lead's creation, qualification, contract and signature are facts set once (the earliest wins, as the
catalog keeps "only the first qualification"), its status is derived from the facts it holds, timeline
entries are set members, and metric counters are guarded by the event's applied marker.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from eventbus import (
    ContractCreated,
    ContractSigned,
    Envelope,
    InstanceStatus,
    LeadCreated,
    LeadQualified,
    MessageReceived,
    MessageSent,
)

from backoffice_api import lead_names
from backoffice_api.keyspace import Keyspace

Op = list[Any]

#: Bucket widths of the metric counters, and how long each is kept.
BUCKETS: dict[str, tuple[int, timedelta]] = {
    "5m": (5 * 60_000, timedelta(days=8)),
    "15m": (15 * 60_000, timedelta(days=32)),
    "1h": (60 * 60_000, timedelta(days=400)),
}
COUNTERS = (
    "messages_in",
    "messages_out",
    "leads_created",
    "leads_qualified",
    "contracts_created",
    "contracts_signed",
    # what facebook-capi reported to Meta (conversions.py), by outcome
    "conversions_sent",
    "conversions_dry_run",
    "conversions_failed",
    "conversions_skipped",
    "conversions_unknown",
)
#: A timeline keeps this many of its newest entries.
TIMELINE_LENGTH = 500


def at_ms(event: Envelope[Any]) -> int:
    return int(event.occurred_at.timestamp() * 1000)


def lead_member(created_ms: int, lead_id: str) -> str:
    """The lead indexes' member: lexicographic order is creation order, ties broken by id."""
    return f"{created_ms:016d}:{lead_id}"


def contact_of(address: str) -> str:
    """``message.sent.to`` → the contact id ``message.received`` uses (``wa:+5511…``, ``wa:lid:<digits>``).

    The catalog gives outgoing messages a bare number (or a JID) where incoming ones carry
    ``lead_external_id``; WhatsApp is the only channel Evolution serves today.
    """
    if ":" in address:
        return address
    if address.endswith("@lid"):  # a lead known only by its privacy @lid (docs/catalog.md, Additions)
        return f"wa:lid:{address.removesuffix('@lid')}"
    number = address.split("@", 1)[0]
    if not number.startswith("+"):
        number = f"+{number}"
    return f"wa:{number}"


def _entry(event: Envelope[Any], **details: Any) -> str:
    # Deterministic bytes: a replayed event yields the same member, which ZADD then leaves alone.
    body = {"event_id": event.id, "type": event.type, "at": at_ms(event), **details}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def count(ks: Keyspace, event: Envelope[Any], counter: str, amount: int = 1) -> list[Op]:
    """Ops adding ``amount`` to ``counter`` in the event's bucket of each width (run under its applied marker)."""
    return _count(ks, event, counter, amount)


def _count(ks: Keyspace, event: Envelope[Any], counter: str, amount: int = 1) -> list[Op]:
    ops: list[Op] = []
    ms = at_ms(event)
    for width, (size, keep) in BUCKETS.items():
        key = ks.bucket(event.company_id, width, ms - ms % size)
        ops.append(["hincrby", key, counter, amount])
        ops.append(["pexpire", key, int(keep.total_seconds() * 1000)])
    return ops


def _timeline(key: str, event: Envelope[Any], **details: Any) -> list[Op]:
    return [["zadd", key, at_ms(event), _entry(event, **details)], ["zcap", key, TIMELINE_LENGTH]]


def lead_created(ks: Keyspace, event: Envelope[LeadCreated]) -> list[Op]:
    p, company = event.payload, event.company_id
    ms = at_ms(event)
    lead = ks.lead(company, p.lead_id)
    facts = [
        "member",
        lead_member(ms, p.lead_id),
        "channel",
        p.channel,
        "source",
        p.source,
        "utm",
        json.dumps(p.utm.model_dump(exclude_none=True) if p.utm else {}, sort_keys=True),
        "external_id",
        p.lead_external_id or "",
        "ctwa_clid",
        p.ctwa_clid or "",
        # The conversation's thread: a deal and its contract carry it on (routes/deals.py), so that
        # contract.created and contract.signed share lead.created's correlation id.
        "correlation_id",
        event.correlation_id,
        "created_event_id",
        event.id,
    ]
    ops: list[Op] = [
        ["hsetnx", lead, "lead_id", p.lead_id, "company_id", company],
        ["hmin", lead, "created_at", ms, *facts],
        ["reindex", lead, ks.view(company)],
        *_timeline(ks.timeline(company, lead_id=p.lead_id), event, source=p.source, channel=p.channel),
        *_count(ks, event, "leads_created"),
    ]
    if p.lead_external_id:
        ops.append(["hsetnx", ks.lead_by_external(company), p.lead_external_id, p.lead_id])
    return ops


def lead_qualified(ks: Keyspace, event: Envelope[LeadQualified]) -> list[Op]:
    p, company = event.payload, event.company_id
    lead = ks.lead(company, p.lead_id)
    first = ["score", str(p.score), "criteria", json.dumps(p.criteria), "summary", p.summary]
    first += ["qualified_event_id", event.id]  # the cause a contract names (routes/deals.py)
    return [
        ["hsetnx", lead, "lead_id", p.lead_id, "company_id", company],
        ["hmin", lead, "qualified_at", at_ms(event), *first],
        ["reindex", lead, ks.view(company)],
        *_timeline(ks.timeline(company, lead_id=p.lead_id), event, score=p.score, criteria=p.criteria),
        *_count(ks, event, "leads_qualified"),
    ]


def _contract_ops(ks: Keyspace, event: Envelope[Any], lead_id: str | None, fields: list[Any]) -> list[Op]:
    p, company = event.payload, event.company_id
    contract = ks.contract(company, p.contract_id)
    return [
        ["hsetnx", contract, "contract_id", p.contract_id, "company_id", company, "deal_id", p.deal_id],
        ["hset", contract, "value", str(p.value), "currency", p.currency, *fields],
        *([["hsetnx", contract, "lead_id", lead_id]] if lead_id else []),
    ]


def contract_created(ks: Keyspace, event: Envelope[ContractCreated], *, lead_id: str | None) -> list[Op]:
    """``lead_id`` is the payload's, else the one of the deal we created (the payload's is optional)."""
    p, company = event.payload, event.company_id
    ms = at_ms(event)
    contract = ks.contract(company, p.contract_id)
    ops = _contract_ops(ks, event, lead_id, ["document_id", p.document_id or ""])
    ops += [
        ["hmin", contract, "created_at", ms, "member", lead_member(ms, p.contract_id)],
        ["hsetnx", contract, "status", p.status or "pending"],
        *_count(ks, event, "contracts_created"),
    ]
    # The index member is fixed by the first contract.created seen; a replay adds the same member again.
    ops.append(["zadd", ks.contract_index(company), 0, lead_member(ms, p.contract_id)])
    if lead_id:
        lead = ks.lead(company, lead_id)
        ops += [
            ["hsetnx", lead, "lead_id", lead_id, "company_id", company],
            ["hmin", lead, "contract_sent_at", ms, "contract_id", p.contract_id, "deal_id", p.deal_id],
            ["reindex", lead, ks.view(company)],
            *_timeline(
                ks.timeline(company, lead_id=lead_id), event, contract_id=p.contract_id, value=p.value
            ),
        ]
    return ops


def contract_signed(ks: Keyspace, event: Envelope[ContractSigned], *, lead_id: str | None) -> list[Op]:
    p, company = event.payload, event.company_id
    signed_ms = int(p.signed_at.timestamp() * 1000)
    contract = ks.contract(company, p.contract_id)
    ops = _contract_ops(ks, event, lead_id, ["status", "signed"])
    ops += [["hmin", contract, "signed_at", signed_ms], *_count(ks, event, "contracts_signed")]
    if lead_id:
        lead = ks.lead(company, lead_id)
        ops += [
            ["hsetnx", lead, "lead_id", lead_id, "company_id", company],
            ["hmin", lead, "won_at", signed_ms, "won_contract_id", p.contract_id],
            ["reindex", lead, ks.view(company)],
            *_timeline(
                ks.timeline(company, lead_id=lead_id), event, contract_id=p.contract_id, value=p.value
            ),
        ]
    return ops


def instance_status(ks: Keyspace, event: Envelope[InstanceStatus]) -> list[Op]:
    p = event.payload
    last = {"status": p.status, "channel": p.channel, "at": at_ms(event), "event_id": event.id}
    return [["hnewest", ks.instance_status(event.company_id), p.instance_id, at_ms(event), json.dumps(last)]]


def message_received(ks: Keyspace, event: Envelope[MessageReceived]) -> list[Op]:
    """The lead's message (``author`` lead, with its ``contact_name``), or a person's typed on the business's
    phone (``from_me``: ``author`` human, ``via`` phone, direction out). The whole text (a media's caption)
    is kept; a media entry says its kind, the catalog's type and MIME type (its URL is WhatsApp's encrypted
    blob, of no use to a reader)."""
    p = event.payload
    key = ks.timeline(event.company_id, external_id=p.lead_external_id)
    details: dict[str, Any] = {"instance_id": p.instance_id, "text": p.body}
    names: list[Op] = []
    if p.from_me:
        details |= {"direction": "out", "author": "human", "via": "phone"}
    else:
        details |= {"direction": "in", "author": "lead"}
        if p.contact_name:
            details["contact_name"] = p.contact_name
            names = lead_names.index_ops(ks, event.company_id, p.lead_external_id, p.contact_name)
    if p.media is not None:
        details["media"] = p.media.precise_kind
        details["media_type"] = p.media.type
        if p.media.mime_type:
            details["mime_type"] = p.media.mime_type
    counter = "messages_out" if p.from_me else "messages_in"
    return [*_timeline(key, event, **details), *_count(ks, event, counter), *names]


def message_sent(ks: Keyspace, event: Envelope[MessageSent]) -> list[Op]:
    """The agent's answer (``author`` agent) or an operator's (``author`` human, ``via`` api), whole."""
    p = event.payload
    key = ks.timeline(event.company_id, external_id=contact_of(p.to))
    texts = [m.text for m in p.messages]
    who = {"author": "agent"} if p.author == "agent" else {"author": "human", "via": "api"}
    return [
        *_timeline(key, event, direction="out", instance_id=p.instance_id, texts=texts, **who),
        *_count(ks, event, "messages_out", len(p.messages)),
    ]


Projector = Callable[[Keyspace, Envelope[Any]], list[Op]]
