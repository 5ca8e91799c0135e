"""Every backoffice-api request as data (``Call``), built once here for the sync and the async client alike,
with the rule for when one may be retried and how an answer becomes a model or an error."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypedDict, TypeVar
from urllib.parse import quote

import httpx
from tenacity import RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from backoffice_client import models
from backoffice_client.errors import RateLimited, ServerError, Unreachable, error_for

T = TypeVar("T", bound=models.Model)

#: RFC 9110 §9.2.2: repeating these has the effect of doing them once.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: Answers worth another try: the request did not take effect, or may succeed a moment later.
TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})


class Unset:
    """Marks an argument not given (where ``None`` means something, e.g. an owner removed)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET = Unset()


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    model: type[T]
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    #: A POST the server documents as safe to repeat (a contract's cancel, an instance's connect).
    idempotent: bool = False

    @property
    def retryable(self) -> bool:
        """Idempotent by method or by the route, or made so by an ``Idempotency-Key`` the server dedupes on."""
        return self.idempotent or self.method in IDEMPOTENT_METHODS or "Idempotency-Key" in self.headers

    def decode(self, response: httpx.Response) -> T:
        if response.status_code >= 400:
            raise error_for(response)
        return self.model.model_validate_json(response.content)


def _query(**values: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in values.items():
        if value is None:
            continue
        out[name.removesuffix("_")] = value.isoformat() if isinstance(value, datetime) else value
    return out


def _segment(value: str) -> str:
    return quote(value, safe="")


# -- retries ------------------------------------------------------------------------------------------------------


def transient(exc: BaseException) -> bool:
    if isinstance(exc, Unreachable):
        return True
    return isinstance(exc, RateLimited | ServerError) and exc.status in TRANSIENT_STATUSES


def retry_policy(call: Call[Any], *, attempts: int, max_wait: float) -> dict[str, Any]:
    """tenacity's arguments for ``call``: ``attempts`` tries if it is safe to repeat, one otherwise. A 429
    waits its ``Retry-After`` (up to ``max_wait``, beyond which it is raised), anything else backs off."""
    backoff = wait_exponential_jitter(multiplier=0.2, max=max_wait, jitter=0.2)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimited):
            return float(exc.retry_after)
        return float(backoff(state))

    def retry(state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimited) and exc.retry_after > max_wait:
            return False
        return exc is not None and retry_if_exception(transient)(state)

    return {
        "stop": stop_after_attempt(attempts if call.retryable else 1),
        "wait": wait,
        "retry": retry,
        "reraise": True,
    }


# -- leads --------------------------------------------------------------------------------------------------------


class LeadsQuery(TypedDict, total=False):
    status: str
    source: str
    created_from: datetime
    created_to: datetime
    cursor: str
    limit: int


def list_leads(query: LeadsQuery) -> Call[models.LeadsPage]:
    return Call("GET", "/v1/leads", models.LeadsPage, _query(**query))


def get_lead(lead_id: str, *, timeline_limit: int = 100) -> Call[models.LeadDetail]:
    params = {"timeline_limit": timeline_limit}
    return Call("GET", f"/v1/leads/{_segment(lead_id)}", models.LeadDetail, params)


def get_handoff(lead_id: str) -> Call[models.Handoff]:
    return Call("GET", f"/v1/leads/{_segment(lead_id)}/handoff", models.Handoff)


def hand_off(lead_id: str, *, reason: str | None = None) -> Call[models.Handoff]:
    path = f"/v1/leads/{_segment(lead_id)}/handoff"
    return Call("PUT", path, models.Handoff, json={"reason": reason})


def give_back(lead_id: str) -> Call[models.Handoff]:
    return Call("DELETE", f"/v1/leads/{_segment(lead_id)}/handoff", models.Handoff)


def find_lead(phone: str) -> Call[models.LeadDetail]:
    return Call("GET", "/v1/leads/search", models.LeadDetail, {"phone": phone})


class NameQuery(TypedDict, total=False):
    cursor: str
    limit: int


def find_leads_by_name(q: str, query: NameQuery) -> Call[models.LeadMatches]:
    return Call("GET", "/v1/leads/search/name", models.LeadMatches, _query(q=q, **query))


def set_lead_owner(lead_id: str, owner: str) -> Call[models.LeadOwner]:
    return Call("PUT", f"/v1/leads/{_segment(lead_id)}/owner", models.LeadOwner, json={"owner": owner})


def clear_lead_owner(lead_id: str) -> Call[models.LeadOwner]:
    return Call("DELETE", f"/v1/leads/{_segment(lead_id)}/owner", models.LeadOwner)


def add_note(lead_id: str, text: str) -> Call[models.Note]:
    # Not retried: a repeat after a lost answer would add the note twice.
    return Call("POST", f"/v1/leads/{_segment(lead_id)}/notes", models.Note, json={"text": text})


def send_message(
    lead_id: str, text: str, *, idempotency_key: str | None = None
) -> Call[models.OperatorMessage]:
    """Always with an ``Idempotency-Key`` (a new one unless given): a retry answers the first send's result
    and WhatsApp gets the text once. Give your own key to make a retry across processes safe too."""
    headers = {"Idempotency-Key": idempotency_key or f"bocl-{uuid.uuid4()}"}
    path = f"/v1/leads/{_segment(lead_id)}/messages"
    return Call("POST", path, models.OperatorMessage, json={"text": text}, headers=headers)


class NotesQuery(TypedDict, total=False):
    before: str
    limit: int


def list_notes(lead_id: str, query: NotesQuery) -> Call[models.NotesPage]:
    return Call("GET", f"/v1/leads/{_segment(lead_id)}/notes", models.NotesPage, _query(**query))


# -- deals --------------------------------------------------------------------------------------------------------


class DealsQuery(TypedDict, total=False):
    stage: models.DealStage
    owner: str
    lead_id: str
    created_from: datetime
    created_to: datetime
    updated_from: datetime
    updated_to: datetime
    value_min: float
    value_max: float
    cursor: str
    limit: int


def create_deal(
    lead_id: str,
    *,
    value: float,
    currency: str = "BRL",
    event: models.EventDetails | Mapping[str, Any] | None = None,
    owner: str | None = None,
    idempotency_key: str | None = None,
) -> Call[models.Deal]:
    """Always with an ``Idempotency-Key`` (a new one unless given), so a retry is the same deal."""
    details = event.model_dump(exclude_none=True) if isinstance(event, models.EventDetails) else event
    body = {"lead_id": lead_id, "value": value, "currency": currency, "event": dict(details or {})}
    if owner is not None:
        body["owner"] = owner
    headers = {"Idempotency-Key": idempotency_key or f"bocl-{uuid.uuid4()}"}
    return Call("POST", "/v1/deals", models.Deal, json=body, headers=headers)


def get_deal(deal_id: str) -> Call[models.Deal]:
    return Call("GET", f"/v1/deals/{_segment(deal_id)}", models.Deal)


def lead_conversions(lead_id: str) -> Call[models.ConversionsList]:
    return Call("GET", f"/v1/leads/{_segment(lead_id)}/conversions", models.ConversionsList)


def deal_conversions(deal_id: str) -> Call[models.ConversionsList]:
    return Call("GET", f"/v1/deals/{_segment(deal_id)}/conversions", models.ConversionsList)


def list_deals(query: DealsQuery) -> Call[models.DealsPage]:
    return Call("GET", "/v1/deals", models.DealsPage, _query(**query))


def _if_match(if_match: str | None) -> dict[str, str]:
    return {} if if_match is None else {"If-Match": if_match}


def update_deal(
    deal_id: str,
    *,
    value: float | Unset = UNSET,
    currency: str | Unset = UNSET,
    event: models.EventDetails | Mapping[str, Any] | Unset = UNSET,
    owner: str | Unset | None = UNSET,
    if_match: str | None = None,
) -> Call[models.Deal]:
    body: dict[str, Any] = {}
    for name, given in (("value", value), ("currency", currency), ("owner", owner)):
        if not isinstance(given, Unset):
            body[name] = given
    if isinstance(event, models.EventDetails):
        body["event"] = event.model_dump(exclude_none=True)
    elif not isinstance(event, Unset):
        body["event"] = dict(event)
    # PATCH is not retried: a repeat after a lost answer could undo a change made in between.
    path = f"/v1/deals/{_segment(deal_id)}"
    return Call("PATCH", path, models.Deal, json=body, headers=_if_match(if_match))


def move_deal(
    deal_id: str, stage: models.DealStage, *, reason: str | None = None, if_match: str | None = None
) -> Call[models.Deal]:
    body: dict[str, Any] = {"stage": stage}
    if reason is not None:
        body["reason"] = reason
    path = f"/v1/deals/{_segment(deal_id)}/stage"
    return Call("PUT", path, models.Deal, json=body, headers=_if_match(if_match))


def create_contract(
    deal_id: str,
    signers: Sequence[models.NewSigner | Mapping[str, Any]],
    *,
    reissue: bool = False,
    idempotency_key: str | None = None,
) -> Call[models.Contract]:
    """Always with an ``Idempotency-Key`` (a new one unless given), so a retry is the same contract."""
    body = {
        "signers": [
            s.model_dump(exclude_none=True) if isinstance(s, models.NewSigner) else dict(s) for s in signers
        ],
        "reissue": reissue,
    }
    headers = {"Idempotency-Key": idempotency_key or f"bocl-{uuid.uuid4()}"}
    path = f"/v1/deals/{_segment(deal_id)}/contract"
    return Call("POST", path, models.Contract, json=body, headers=headers)


# -- contracts, instances, metrics --------------------------------------------------------------------------------


class PageQuery(TypedDict, total=False):
    cursor: str
    limit: int


def list_contracts(query: PageQuery) -> Call[models.ContractsPage]:
    return Call("GET", "/v1/contracts", models.ContractsPage, _query(**query))


def get_contract(contract_id: str) -> Call[models.Contract]:
    return Call("GET", f"/v1/contracts/{_segment(contract_id)}", models.Contract)


def put_instance(
    name: str, *, webhook_secret: str | None = None, api_key: str | None = None
) -> Call[models.Instance]:
    body = {"channel": "whatsapp", "webhook_secret": webhook_secret, "api_key": api_key}
    body = {k: v for k, v in body.items() if v is not None}
    return Call("PUT", f"/v1/instances/{_segment(name)}", models.Instance, json=body)


def list_instances() -> Call[models.InstancesList]:
    return Call("GET", "/v1/instances", models.InstancesList)


def get_instance(name: str) -> Call[models.Instance]:
    return Call("GET", f"/v1/instances/{_segment(name)}", models.Instance)


def me() -> Call[models.KeyPublic]:
    return Call("GET", "/v1/me", models.KeyPublic)


def get_agent_settings() -> Call[models.AgentSettingsPublic]:
    return Call("GET", "/v1/admin/agent-settings", models.AgentSettingsPublic)


def put_agent_settings(settings: models.AgentSettings) -> Call[models.AgentSettingsPublic]:
    # Whole, defaults included: a PUT replaces every setting (idempotent, so retried like a read).
    return Call(
        "PUT", "/v1/admin/agent-settings", models.AgentSettingsPublic, json=settings.model_dump(mode="json")
    )


def metrics(
    *, bucket: str = "1h", from_: datetime | None = None, to: datetime | None = None
) -> Call[models.MetricsReport]:
    return Call("GET", "/v1/metrics", models.MetricsReport, _query(bucket=bucket, from_=from_, to=to))


# -- events, operations -------------------------------------------------------------------------------------------


class EventsQuery(TypedDict, total=False):
    before: str
    limit: int


def list_events(type: models.EventType, query: EventsQuery) -> Call[models.EventsPage]:
    return Call("GET", "/v1/events", models.EventsPage, _query(type=type, **query))


def consumer_groups() -> Call[models.GroupsList]:
    return Call("GET", "/v1/ops/groups", models.GroupsList)


class DeadLettersQuery(TypedDict, total=False):
    after: str
    limit: int


def _letters(channel: str, group: str) -> str:
    return f"/v1/ops/dead-letters/{_segment(channel)}/{_segment(group)}"


def list_dead_letters(channel: str, group: str, query: DeadLettersQuery) -> Call[models.DeadLettersPage]:
    return Call("GET", _letters(channel, group), models.DeadLettersPage, _query(**query))


def get_dead_letter(channel: str, group: str, dead_id: str) -> Call[models.DeadLetter]:
    return Call("GET", f"{_letters(channel, group)}/{_segment(dead_id)}", models.DeadLetter)


def replay_dead_letters(channel: str, group: str, dead_id: str | None = None) -> Call[models.Replayed]:
    one = f"/{_segment(dead_id)}" if dead_id else ""
    return Call("POST", f"{_letters(channel, group)}{one}/replay", models.Replayed)


def purge_dead_letters(channel: str, group: str, dead_id: str | None = None) -> Call[models.Purged]:
    one = f"/{_segment(dead_id)}" if dead_id else ""
    return Call("DELETE", f"{_letters(channel, group)}{one}", models.Purged)


def send_error(exc: httpx.TransportError) -> Unreachable:
    return Unreachable(f"backoffice-api did not answer: {type(exc).__name__}: {exc}")
