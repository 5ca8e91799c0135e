"""What operators add to a lead: its owner, notes, and finding it by phone number or by name.

Owners and notes are ``state:`` keys (no event carries them; a rebuild keeps them). Mounted before
``routes/leads.py``: ``/v1/leads/search`` would otherwise reach ``/v1/leads/{lead_id}`` and fail its pattern.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from eventbus import envelope
from fastapi import APIRouter, Path, Query, Response
from servicekit import NotFound
from ulid import ULID

from backoffice_api import names
from backoffice_api.deals import Actor
from backoffice_api.deps import (
    InvalidParameter,
    LeadsRead,
    LeadsWrite,
    PortsDep,
    encode_cursor,
    unpack_cursor,
)
from backoffice_api.models import (
    LEAD_ID,
    LeadDetail,
    LeadMatches,
    LeadOwner,
    LeadOwnerSet,
    NoteCreate,
    NotePublic,
    NotesPage,
)
from backoffice_api.routes import COMMON_ERRORS, NOT_FOUND

router = APIRouter(prefix="/v1/leads", tags=["leads"], responses=COMMON_ERRORS)
LeadId = Annotated[str, Path(pattern=LEAD_ID, examples=["lead_01J8Z0P3H1Y8K8Q0KQ9VJ8X7K1"])]
PHONE = r"^\+?[0-9][0-9 ().-]{5,24}$"
NOTE_ID = r"^note_[0-9A-Z]{26}$"


def contact_of_phone(phone: str) -> str:
    """``+55 (11) 99999-0000`` → the contact id leads are filed under (``wa:+5511999990000``)."""
    digits = re.sub(r"[^0-9]", "", phone)
    return f"wa:+{digits}"


@router.get(
    "/search",
    responses=NOT_FOUND,
    summary="Find a lead by its WhatsApp number",
    description="The number in any common spelling (`+55 11 99999-0000`, `5511999990000`); it must be "
    "the whole number with country code. One lookup, whatever the number of leads.",
)
async def find_lead(
    key: LeadsRead,
    ports: PortsDep,
    phone: Annotated[str, Query(pattern=PHONE, examples=["+5511999990000"])],
) -> LeadDetail:
    from backoffice_api.routes.leads import get_lead  # the lead's full answer, built in one place

    lead_id = await ports.models.redis.hget(
        ports.models.ks.lead_by_external(key.company_id), contact_of_phone(phone)
    )
    if not lead_id:
        raise NotFound("no lead with this number")
    return await get_lead(str(lead_id), key, ports, timeline_limit=20)


@router.get(
    "/search/name",
    response_model=LeadMatches,
    summary="Find leads by name",
    description="Leads whose contact's WhatsApp name, or the name the agent learned in the conversation, "
    "starts with `q` or has a word that does (`souza` and `maria s` both find Maria Souza). Case and accents "
    "do not matter. A lead is found by every name its contact wrote under. One index range per page, "
    "whatever the number of leads; a lead matching under two names is listed once per page.",
)
async def find_by_name(
    key: LeadsRead,
    ports: PortsDep,
    q: Annotated[
        str,
        Query(min_length=names.QUERY_MIN, max_length=names.QUERY_MAX, examples=["maria s"]),
    ],
    cursor: Annotated[str | None, Query(max_length=400)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Response:
    from backoffice_api.routes.leads import lead_public  # the lead's answer, built in one place

    prefix = names.fold(q)
    if len(prefix) < names.QUERY_MIN:
        raise InvalidParameter("q", f"needs at least {names.QUERY_MIN} letters or digits")
    members, more = await ports.models.names(
        key.company_id, prefix, after=_name_cursor(cursor, prefix), limit=limit
    )
    matched = [names.split(m) for m in members]
    contacts = await ports.models.leads_of_contacts(
        key.company_id, [ref for _, ref in matched if not ref.startswith("lead_")]
    )
    first: dict[str, str] = {}  # lead id → the first name it matched on this page
    for name, ref in matched:
        lead_id = ref if ref.startswith("lead_") else contacts.get(ref)
        if lead_id is not None:
            first.setdefault(lead_id, name)
    rows = await ports.models.documents(key.company_id, list(first))
    ids = [row["lead_id"] for row in rows]
    owned = await owners(ports, key.company_id, ids)
    lasts = await ports.models.last_messages(key.company_id, [row.get("external_id") for row in rows])
    items = [
        lead_public(
            row, json.loads(row["handoff"]) if "handoff" in row else None, owned.get(row["lead_id"]), last
        )
        | {"matched_name": first[row["lead_id"]]}
        for row, last in zip(rows, lasts, strict=True)
    ]
    next_cursor = encode_cursor(members[-1]) if more and members else None
    body = json.dumps({"items": items, "next_cursor": next_cursor}, ensure_ascii=False)
    return Response(body, media_type="application/json")


def _name_cursor(cursor: str | None, prefix: str) -> str | None:
    """A position in the name index this API handed out for the same query; anything else is a 422."""
    if cursor is None:
        return None
    member = unpack_cursor(cursor)
    if not member.startswith(prefix) or names.SEPARATOR not in member:
        raise InvalidParameter("cursor", "not a cursor returned by this API for this query")
    return member


@router.put("/{lead_id}/owner", responses=NOT_FOUND, summary="Assign the lead to a seller")
async def set_owner(lead_id: LeadId, body: LeadOwnerSet, key: LeadsWrite, ports: PortsDep) -> LeadOwner:
    await _lead(ports, key.company_id, lead_id)
    await ports.models.redis.hset(ports.models.ks.lead_owner(key.company_id), lead_id, body.owner)
    return LeadOwner(lead_id=lead_id, owner=body.owner)


@router.delete("/{lead_id}/owner", responses=NOT_FOUND, summary="Leave the lead without an owner")
async def clear_owner(lead_id: LeadId, key: LeadsWrite, ports: PortsDep) -> LeadOwner:
    await _lead(ports, key.company_id, lead_id)
    await ports.models.redis.hdel(ports.models.ks.lead_owner(key.company_id), lead_id)
    return LeadOwner(lead_id=lead_id, owner=None)


@router.post("/{lead_id}/notes", status_code=201, responses=NOT_FOUND, summary="Add a note to the lead")
async def add_note(lead_id: LeadId, body: NoteCreate, key: LeadsWrite, ports: PortsDep) -> NotePublic:
    await _lead(ports, key.company_id, lead_id)
    note = {
        "note_id": f"note_{ULID()}",
        "lead_id": lead_id,
        "text": body.text,
        "at": envelope.format_timestamp(envelope.now()),
        "by": Actor("api_key", key.key_id, key.name).public(),
    }
    # Members sort by the note's ULID, that is by time: the notes of a lead are one BYLEX range.
    member = f"{note['note_id']}\t{json.dumps(note, ensure_ascii=False)}"
    await ports.models.redis.zadd(ports.models.ks.lead_notes(key.company_id, lead_id), {member: 0})
    return NotePublic.model_validate(note)


@router.get("/{lead_id}/notes", responses=NOT_FOUND, summary="The lead's notes, newest first")
async def list_notes(
    lead_id: LeadId,
    key: LeadsRead,
    ports: PortsDep,
    before: Annotated[
        str | None, Query(pattern=NOTE_ID, description="`next_before` of the previous page: older notes")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> NotesPage:
    await _lead(ports, key.company_id, lead_id)
    upper = f"({before}" if before else "+"
    members: list[str] = await ports.models.redis.zrange(  # type: ignore[assignment]
        ports.models.ks.lead_notes(key.company_id, lead_id),
        upper,
        "-",
        desc=True,
        bylex=True,
        offset=0,
        num=limit + 1,
    )
    items = [NotePublic.model_validate_json(member.split("\t", 1)[1]) for member in members[:limit]]
    return NotesPage(items=items, next_before=items[-1].note_id if len(members) > limit else None)


async def owners(ports: PortsDep, company: str, lead_ids: list[str]) -> dict[str, str]:
    """The owners of these leads, for the lead answers (one ``HMGET``)."""
    if not lead_ids:
        return {}
    values = await ports.models.redis.hmget(ports.models.ks.lead_owner(company), lead_ids)
    return {lead: str(v) for lead, v in zip(lead_ids, values, strict=True) if v}


async def _lead(ports: PortsDep, company: str, lead_id: str) -> dict[str, Any]:
    row = await ports.models.lead(company, lead_id)
    if row is None:
        raise NotFound(f"lead {lead_id} not found")
    return row
