"""The deal pipeline's rules, pure: the stages and the moves allowed between them, who moved a deal, a stage
entered into the history, the contract's moves (``follow``), deal ids, entity tags, index members and the
filters a page of deals is checked against. ``deals.py`` stores deals by these rules."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from eventbus import envelope
from servicekit import Conflict
from ulid import ULID

#: The stages each stage may move to; ``won`` and ``lost`` are final.
NEXT: dict[str, tuple[str, ...]] = {
    "new": ("qualified", "lost"),
    "qualified": ("proposal", "lost"),
    "proposal": ("contract_sent", "lost"),
    "contract_sent": ("won", "lost"),
    "won": (),
    "lost": (),
}
#: The stages a contract being made moves on to ``contract_sent``.
BEFORE_CONTRACT = ("new", "qualified", "proposal")
RULE = "new → qualified → proposal → contract_sent → won | lost; lost from any open stage, with a reason"
EVENT_FIELDS = ("type", "date", "guests", "location")


class StageNotAllowed(Conflict):
    """The move breaks the pipeline's rule (409, the message names it)."""

    def __init__(self, current: str, wanted: str) -> None:
        allowed = ", ".join(NEXT[current]) or "none: it is final"
        super().__init__(
            f"a deal in '{current}' cannot move to '{wanted}' (from '{current}': {allowed}); {RULE}"
        )


@dataclass(frozen=True)
class Actor:
    """Who changed a deal: an API key (its id and name) or an event (its id and type)."""

    kind: Literal["api_key", "event"]
    id: str
    name: str

    def public(self) -> dict[str, str]:
        return {"kind": self.kind, "id": self.id, "name": self.name}


class IdempotencyKeyReused(ValueError):
    """An ``Idempotency-Key`` that made a deal before came with another request (HTTP 422)."""


def new_deal_id(company: str, idempotency_key: str | None = None) -> str:
    """A new ULID, or — for a request with an ``Idempotency-Key`` — one derived from the company and the key,
    so that a repeat names the same deal and the compare-and-set that creates it finds it there."""
    if idempotency_key is None:
        return f"deal_{ULID()}"
    digest = hashlib.sha256(f"{company}\0{idempotency_key}".encode()).digest()
    return "deal_k" + base64.b32encode(digest).decode()[:26]


def etag(deal: dict[str, Any]) -> str:
    return f'"v{deal["version"]}"'


def matches(if_match: str, deal: dict[str, Any]) -> bool:
    """RFC 9110 §13.1.1: a list of entity tags or ``*``; strong comparison (a weak tag never matches)."""
    tags = {tag.strip() for tag in if_match.split(",")}
    return "*" in tags or etag(deal) in tags


def member(deal: dict[str, Any]) -> str:
    created = datetime.fromisoformat(deal["created_at"])
    return f"{int(created.timestamp() * 1000):016d}:{deal['deal_id']}"


def normalized(deal: dict[str, Any]) -> dict[str, Any]:
    """Deals written before the pipeline existed read as new, unowned, version 1 (and are not indexed yet).
    The event details get all their fields, as the API shows them."""
    deal["event"] = {name: deal.get("event", {}).get(name) for name in EVENT_FIELDS}
    deal.setdefault("stage", "new")
    deal.setdefault("owner", None)
    deal.setdefault("lost_reason", None)
    deal.setdefault("history", [])
    deal.setdefault("updated_at", deal["created_at"])
    if "version" not in deal:
        deal["version"] = 1
        deal["indexed"] = False
    return deal


def ms(value: str) -> int:
    return int(datetime.fromisoformat(value).timestamp() * 1000)


@dataclass(frozen=True)
class DealFilter:
    """What a page of deals asks for; ``None`` is any. Ranges: ``*_from`` inclusive, ``*_to`` exclusive (ms);
    values inclusive at both ends."""

    stage: str | None = None
    owner: str | None = None
    lead_id: str | None = None
    created_from: int | None = None
    created_to: int | None = None
    updated_from: int | None = None
    updated_to: int | None = None
    value_min: float | None = None
    value_max: float | None = None

    def residual(self) -> bool:
        """Whether documents must be checked beyond the index range (the lead index knows no stage or owner)."""
        by_lead = self.lead_id is not None and (self.stage is not None or self.owner is not None)
        others = (self.updated_from, self.updated_to, self.value_min, self.value_max)
        return by_lead or any(v is not None for v in others)

    def accepts(self, deal: dict[str, Any]) -> bool:
        updated = ms(deal["updated_at"])
        return (
            (self.stage is None or deal["stage"] == self.stage)
            and (self.owner is None or deal["owner"] == self.owner)
            and (self.updated_from is None or updated >= self.updated_from)
            and (self.updated_to is None or updated < self.updated_to)
            and (self.value_min is None or deal["value"] >= self.value_min)
            and (self.value_max is None or deal["value"] <= self.value_max)
        )


def follow(deal: dict[str, Any], stage: str, *, by: Actor) -> dict[str, Any] | None:
    if stage == "won" and deal["stage"] == "won":
        return None
    if stage == "contract_sent" and deal["stage"] not in BEFORE_CONTRACT:
        return None
    return entered(deal, stage, by=by, reason=None)


def entered(deal: dict[str, Any], stage: str, *, by: Actor, reason: str | None) -> dict[str, Any]:
    at = envelope.format_timestamp(envelope.now())
    entry = {"stage": stage, "previous": deal["stage"], "at": at, "by": by.public(), "reason": reason}
    deal["history"].append(entry)
    deal["stage"] = stage
    deal["lost_reason"] = reason if stage == "lost" else None
    return deal
