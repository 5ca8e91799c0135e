"""Deals: the pipeline (list, filters, stages, owner, value) and the contract of a deal (made by
autentique-service, idempotent on the deal). Reads carry an ``ETag``; writes honour ``If-Match`` (412)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Response
from servicekit import NotFound

from backoffice_api.apikeys import ApiKey
from backoffice_api.clients import autentique
from backoffice_api.deals import RULE, Actor, DealFilter, IdempotencyKeyReused, etag
from backoffice_api.deps import (
    ContractsWrite,
    DealsRead,
    DealsWrite,
    InvalidParameter,
    PortsDep,
    decode_cursor,
    encode_cursor,
)
from backoffice_api.models import (
    DEAL_ID,
    LEAD_ID,
    ContractCreate,
    ContractPublic,
    DealCreate,
    DealPublic,
    DealsPage,
    DealStage,
    DealUpdate,
    ErrorBody,
    Money,
    Owner,
    StageMove,
)
from backoffice_api.routes import COMMON_ERRORS, NOT_FOUND, UPSTREAM
from backoffice_api.routes.contracts import contract_public
from backoffice_api.routes.leads import ms

router = APIRouter(prefix="/v1/deals", tags=["deals"], responses=COMMON_ERRORS)
DealId = Annotated[str, Path(pattern=DEAL_ID, examples=["deal_01J8Z0Q6D3S1V9T4W2X7Y5Z8A0"])]
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=200,
        description='The deal\'s `ETag` as read (`"v3"`): the write is refused with 412 if the deal changed '
        "since. Without it the change applies to the deal as it is now (transition rules still hold).",
    ),
]
ETAG_HEADER = {"ETag": {"description": 'The deal\'s version, `"v<version>"`', "schema": {"type": "string"}}}
#: What a stored deal holds that the API does not show.
INTERNAL = ("indexed", "request_fingerprint")
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "The move breaks the pipeline's rule (the message names it)"},
    412: {"model": ErrorBody, "description": "If-Match does not match: the deal changed since it was read"},
}


def actor(key: ApiKey) -> Actor:
    return Actor("api_key", key.key_id, key.name)


def deal_public(deal: dict[str, Any], response: Response) -> DealPublic:
    response.headers["ETag"] = etag(deal)
    return DealPublic.model_validate(deal)


@router.post(
    "",
    status_code=201,
    responses=NOT_FOUND
    | {
        201: {"headers": ETAG_HEADER},
        200: {"model": DealPublic, "description": "A repeat of an Idempotency-Key: the deal it made"},
    },
    summary="Create a deal for a lead (stage new)",
)
async def create_deal(
    body: DealCreate,
    key: DealsWrite,
    ports: PortsDep,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=200,
            description="Optional: a repeat with the same key answers the deal the first request made (200), "
            "so a client may retry; the same key with another body is 422.",
        ),
    ] = None,
) -> DealPublic:
    lead = await ports.models.lead(key.company_id, body.lead_id)
    if lead is None:
        raise NotFound(f"lead {body.lead_id} not found")
    try:
        deal, created = await ports.deals.created(
            key.company_id,
            lead_id=body.lead_id,
            value=body.value,
            currency=body.currency,
            event=body.event.model_dump(exclude_none=True),
            owner=body.owner,
            by=actor(key),
            correlation_id=lead.get("correlation_id") or None,
            idempotency_key=idempotency_key,
        )
    except IdempotencyKeyReused as exc:
        raise InvalidParameter("Idempotency-Key", str(exc)) from exc
    response.status_code = 201 if created else 200
    return deal_public(deal, response)


@router.get("", response_model=DealsPage, summary="List deals, newest first, filtered")
async def list_deals(
    key: DealsRead,
    ports: PortsDep,
    stage: DealStage | None = None,
    owner: Owner | None = None,
    lead_id: Annotated[str | None, Query(pattern=LEAD_ID)] = None,
    created_from: Annotated[datetime | None, Query(description="inclusive")] = None,
    created_to: Annotated[datetime | None, Query(description="exclusive")] = None,
    updated_from: Annotated[datetime | None, Query(description="inclusive")] = None,
    updated_to: Annotated[datetime | None, Query(description="exclusive")] = None,
    value_min: Annotated[Money | None, Query(description="inclusive")] = None,
    value_max: Annotated[Money | None, Query(description="inclusive")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    """Stage, owner and creation range are read from indexes; lead, value and update-time filters are checked
    on at most 1000 deals per page, so a page may be short (even empty) with a `next_cursor`: follow it
    until it is null."""
    want = DealFilter(
        stage=stage,
        owner=owner,
        lead_id=lead_id,
        created_from=_bounded("created_from", ms(created_from)),
        created_to=_bounded("created_to", ms(created_to)),
        updated_from=_bounded("updated_from", ms(updated_from)),
        updated_to=_bounded("updated_to", ms(updated_to)),
        value_min=value_min,
        value_max=value_max,
    )
    for low, high in (
        ("created_from", "created_to"),
        ("updated_from", "updated_to"),
        ("value_min", "value_max"),
    ):
        a, b = getattr(want, low), getattr(want, high)
        if a is not None and b is not None and a > b:
            raise InvalidParameter(low, f"must not be above {high}")
    page = await ports.deals.page(key.company_id, want, after=decode_cursor(cursor), limit=limit)
    # The hot path: the documents are our own, written in the API's shape (deals._normalized fills what older
    # ones lack), so they are not validated field by field again; schemathesis checks this answer against
    # DealsPage. Validating and dumping them took half the CPU of a page.
    items = [{k: v for k, v in deal.items() if k not in INTERNAL} for deal in page.deals]
    body = json.dumps({"items": items, "next_cursor": encode_cursor(page.last)}, ensure_ascii=False)
    return Response(body, media_type="application/json")


@router.get("/{deal_id}", responses=NOT_FOUND | {200: {"headers": ETAG_HEADER}}, summary="One deal")
async def get_deal(deal_id: DealId, key: DealsRead, ports: PortsDep, response: Response) -> DealPublic:
    return deal_public(await _deal(ports, key.company_id, deal_id), response)


@router.patch(
    "/{deal_id}",
    responses=NOT_FOUND | WRITE_ERRORS | {200: {"headers": ETAG_HEADER}},
    summary="Change a deal's value, currency, event details or owner",
)
async def update_deal(
    deal_id: DealId,
    body: DealUpdate,
    key: DealsWrite,
    ports: PortsDep,
    response: Response,
    if_match: IfMatch = None,
) -> DealPublic:
    changes = body.model_dump(exclude_unset=True, exclude={"event"})
    if body.event is not None:
        changes["event"] = body.event.model_dump()
    for name in ("value", "currency"):
        if name in changes and changes[name] is None:
            raise InvalidParameter(name, "cannot be null")
    if not changes and "event" not in body.model_fields_set:
        raise InvalidParameter("body", "names no field to change")

    def changed(deal: dict[str, Any]) -> dict[str, Any] | None:
        if all(deal.get(name) == value for name, value in changes.items()):
            return None
        return deal | changes

    deal = await ports.deals.edit(key.company_id, deal_id, changed, if_match=if_match)
    return deal_public(deal, response)


@router.put(
    "/{deal_id}/stage",
    responses=NOT_FOUND | WRITE_ERRORS | {200: {"headers": ETAG_HEADER}},
    summary="Move a deal to a stage",
    description=f"The pipeline: {RULE}. Moving to the stage the deal is in changes nothing. `won` also follows "
    "from the deal's contract being signed, `contract_sent` from its contract being made.",
)
async def move_deal(
    deal_id: DealId,
    body: StageMove,
    key: DealsWrite,
    ports: PortsDep,
    response: Response,
    if_match: IfMatch = None,
) -> DealPublic:
    if body.stage == "lost" and not (body.reason and body.reason.strip()):
        raise InvalidParameter("reason", "required when the stage is lost")
    reason = body.reason if body.stage == "lost" else None
    deal = await ports.deals.move(
        key.company_id, deal_id, body.stage, by=actor(key), reason=reason, if_match=if_match
    )
    return deal_public(deal, response)


@router.post(
    "/{deal_id}/contract",
    status_code=201,
    responses={200: {"model": ContractPublic, "description": "The deal already had this contract"}}
    | NOT_FOUND
    | UPSTREAM,
    summary="Ask autentique-service for the deal's contract (idempotent on the deal)",
)
async def create_contract(
    deal_id: DealId,
    body: ContractCreate,
    key: ContractsWrite,
    ports: PortsDep,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=200,
            description="Optional: a repeat with the same key answers the first request's contract for 24 h. "
            "Without one, a repeat of the same request is recognised as long as the deal's contract is "
            "the same (a re-issue retried after a timeout makes one new contract).",
        ),
    ] = None,
) -> ContractPublic:
    deal = await _deal(ports, key.company_id, deal_id)
    request: dict[str, Any] = {
        "deal_id": deal["deal_id"],
        "lead_id": deal["lead_id"],
        "company_id": key.company_id,
        "value": deal["value"],
        "currency": deal["currency"],
        "event": deal.get("event") or {},
        "signers": [s.model_dump(exclude_none=True) for s in body.signers],
        "reissue": body.reissue,
        **await _trace(ports, key.company_id, deal),
    }
    try:
        contract, created = await ports.autentique.create_contract(
            request, idempotency_key=_idempotency_key(key.company_id, deal, request, idempotency_key)
        )
    except autentique.IdempotencyKeyReused as exc:
        raise InvalidParameter("Idempotency-Key", str(exc)) from exc
    await ports.models.remember_contract(key.company_id, contract)
    await ports.deals.attach_contract(key.company_id, deal_id, contract["contract_id"], by=actor(key))
    response.status_code = 201 if created else 200
    return contract_public(contract, stored=None, live_signers=True)


async def _trace(ports: PortsDep, company: str, deal: dict[str, Any]) -> dict[str, str]:
    """The catalog's traceability for contract.created: the lead's correlation id (kept with the deal; the
    lead's for deals made before deals kept it) and, as its cause, the lead's latest event we projected:
    its kept ``lead.qualified`` if it was qualified, else its ``lead.created``."""
    lead = await ports.models.lead(company, deal["lead_id"]) or {}
    trace = {
        "correlation_id": deal.get("correlation_id") or lead.get("correlation_id"),
        "causation_id": lead.get("qualified_event_id") or lead.get("created_event_id"),
    }
    return {name: value for name, value in trace.items() if value}


def _idempotency_key(company: str, deal: dict[str, Any], request: dict[str, Any], given: str | None) -> str:
    """What autentique-service dedupes on: the operator's key, else the request itself together with the
    contract it would supersede, so that a retry (ours after a timeout, or the operator's) of the same
    request is one contract, while a re-issue once the deal has the new contract is a new one."""
    if given is not None:
        basis = ["operator", company, deal["deal_id"], given]
    else:
        supersedes = deal.get("contract_id") or ""
        # Without the traceability ids, as autentique-service's fingerprint: the lead's latest event may change
        # between a request and the operator's repeat of it.
        asked = {k: v for k, v in request.items() if k not in ("correlation_id", "causation_id")}
        basis = ["derived", company, deal["deal_id"], supersedes, json.dumps(asked, sort_keys=True)]
    return hashlib.sha256("\0".join(basis).encode()).hexdigest()


def _bounded(name: str, value: int | None) -> int | None:
    if value is not None and not 0 <= value < 10**16:
        raise InvalidParameter(name, "out of range")
    return value


async def _deal(ports: PortsDep, company: str, deal_id: str) -> dict[str, Any]:
    deal = await ports.deals.get(company, deal_id)
    if deal is None:
        raise NotFound(f"deal {deal_id} not found")
    return deal
