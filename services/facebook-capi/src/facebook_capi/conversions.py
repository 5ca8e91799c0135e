"""Pure: a catalog event (and what we know of its lead) → one Conversions API server event, and Meta's rules
checked before anything is sent.

Meta rejects a whole request when one event in it is invalid (reference §1); checking each event here keeps
a bad one out of its batch instead of finding out from Meta.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast, get_args

from eventbus import ContractSigned, Envelope

from facebook_capi import hashing
from facebook_capi.companies import CompanyCapi
from facebook_capi.errors import EventTooOld, InvalidConversion
from facebook_capi.leads import LeadRecord
from facebook_capi.mapping import (
    BUSINESS_MESSAGING_EVENTS,
    ActionSource,
    CatalogType,
    Conversion,
    Route,
    conversion_for,
)

ACTION_SOURCES = frozenset(get_args(ActionSource))
HASHED_KEYS = frozenset({"em", "ph", "fn", "ln", "ge", "db", "ct", "st", "zp", "country", "external_id"})
NEVER_HASHED_KEYS = frozenset({"ctwa_clid", "whatsapp_business_account_id", "page_id", "fbc", "fbp"})
#: Clock skew we tolerate on `occurred_at`; beyond it the time is clamped to now (Meta refuses the future).
FUTURE_TOLERANCE_SECONDS = 60
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Plan:
    """What to send for one event, and the gaps found on the way (counted by the handler)."""

    route: Route
    conversion: Conversion
    server_event: dict[str, Any]
    gaps: tuple[str, ...] = ()


def route_of(lead: LeadRecord | None, company: CompanyCapi) -> Route:
    return "click_to_whatsapp" if lead is not None and lead.ctwa_clid and company.waba_id else "crm"


def event_time(occurred_at: datetime, *, now: float) -> int:
    return min(int(occurred_at.timestamp()), int(now))


def check_age(event: Envelope[Any], *, now: float, max_age_seconds: int) -> None:
    age = now - event.occurred_at.timestamp()
    if age > max_age_seconds:
        raise EventTooOld(
            f"event_too_old: occurred_at {event.occurred_at.isoformat()} is {age / 86400:.1f} days ago; Meta "
            f"accepts events up to 7 days old (we stop at {max_age_seconds}s), so it is not sent"
        )


def plan(
    event: Envelope[Any], *, lead: LeadRecord | None, company: CompanyCapi, region: str, now: float
) -> Plan:
    event_type = cast(CatalogType, event.type)  # subscriptions are these three channels only
    gaps: list[str] = []
    route = route_of(lead, company)
    if lead is not None and lead.ctwa_clid and route == "crm":
        gaps.append("click_without_waba")
    conversion = conversion_for(
        event_type,
        route,
        crm_event_names=company.crm_event_names,
        crm_action_source=company.crm_action_source,
        messaging_event_names=company.messaging_event_names,
    )
    body: dict[str, Any] = {
        "event_name": conversion.event_name,
        "event_time": event_time(event.occurred_at, now=now),
        "event_id": event.id,
        "action_source": conversion.action_source,
    }
    if route == "click_to_whatsapp":
        assert lead is not None and lead.ctwa_clid and company.waba_id
        body["messaging_channel"] = conversion.messaging_channel
        # Meta's sample sends exactly these two, unhashed; whether extra hashed keys are used there is
        # unconfirmed (reference §2), so we send none rather than PII Meta may not need.
        body["user_data"] = {"whatsapp_business_account_id": company.waba_id, "ctwa_clid": lead.ctwa_clid}
    else:
        body["user_data"] = _crm_user_data(lead, company=company, region=region, lead_id=_lead_id(event))
    custom = _custom_data(event)
    if custom:
        body["custom_data"] = custom
    return Plan(route, conversion, body, tuple(gaps))


def _lead_id(event: Envelope[Any]) -> str | None:
    lead_id = getattr(event.payload, "lead_id", None)
    return lead_id if isinstance(lead_id, str) and lead_id else None


def _crm_user_data(
    lead: LeadRecord | None, *, company: CompanyCapi, region: str, lead_id: str | None
) -> dict[str, Any]:
    user: dict[str, Any] = {}
    if lead is not None:
        for key in ("ph", "external_id", "country"):
            value = getattr(lead, key)
            if value:
                user[key] = [value]
    else:
        # An unknown lead: send what is known (the lead id, the company's country) so the event still counts.
        if lead_id and (external := hashing.hashed_external_id(lead_id)):
            user["external_id"] = [external]
        if country := hashing.hashed_country(company.country or region):
            user["country"] = [country]
    return user


def _custom_data(event: Envelope[Any]) -> dict[str, Any]:
    payload = event.payload
    if isinstance(payload, ContractSigned):
        return {"value": payload.value, "currency": payload.currency, "order_id": payload.contract_id}
    if event.type == "lead.qualified":
        return {"lead_stage": "qualified"}
    return {}


def validate(server_event: dict[str, Any], *, now: float, max_age_seconds: int) -> None:
    """Meta's rules for one event (reference §1-§5, §9); raise :class:`InvalidConversion` naming the first
    broken one."""
    problems = list(_problems(server_event, now=now, max_age_seconds=max_age_seconds))
    if problems:
        raise InvalidConversion(f"invalid_conversion: {'; '.join(problems)}")


def _problems(e: dict[str, Any], *, now: float, max_age_seconds: int) -> list[str]:
    out: list[str] = []
    name, source, user = e.get("event_name"), e.get("action_source"), e.get("user_data")
    if not isinstance(name, str) or not name:
        out.append("event_name is required")
    time_ = e.get("event_time")
    if not isinstance(time_, int) or time_ < now - max_age_seconds or time_ > now + FUTURE_TOLERANCE_SECONDS:
        out.append("event_time must be a unix time within the last 7 days")
    if source not in ACTION_SOURCES:
        out.append(f"action_source {source!r} is not one of Meta's")
    if not isinstance(user, dict) or not user:
        out.append("user_data must hold at least one identifier")
        user = {}
    if source == "business_messaging":
        if e.get("messaging_channel") != "whatsapp":
            out.append("business_messaging needs messaging_channel whatsapp")
        if name not in BUSINESS_MESSAGING_EVENTS:
            out.append(f"{name} is not a business-messaging event name")
        for key in ("whatsapp_business_account_id", "ctwa_clid"):
            if not user.get(key):
                out.append(f"user_data.{key} is required for WhatsApp business messaging")
    for key, value in user.items():
        for item in value if isinstance(value, list) else [value]:
            hashed = isinstance(item, str) and bool(_SHA256_HEX.match(item))
            if key in HASHED_KEYS and not hashed:
                out.append(f"user_data.{key} must be a SHA-256 hex digest")
            if key in NEVER_HASHED_KEYS and hashed:
                out.append(f"user_data.{key} must not be hashed")
    if name == "Purchase":
        custom = e.get("custom_data") or {}
        if not isinstance(custom.get("value"), int | float) or not isinstance(custom.get("currency"), str):
            out.append("Purchase needs custom_data.value and custom_data.currency")
    return out
