"""WhatsApp instances: registered through evolution-manager's admin API (secrets go there, never come back),
listed with the last status the ``instance.status`` projection saw."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.exceptions import RequestValidationError
from servicekit import Conflict, NotFound
from servicekit.upstream import UpstreamRefused

from backoffice_api.clients.evolution import refused_fields
from backoffice_api.deps import InstancesRead, InstancesWrite, PortsDep
from backoffice_api.models import (
    INSTANCE_NAME,
    InstanceLastStatus,
    InstancePublic,
    InstancesList,
    InstanceUpsert,
)
from backoffice_api.routes import COMMON_ERRORS, NOT_FOUND, UPSTREAM

router = APIRouter(prefix="/v1/instances", tags=["instances"], responses=COMMON_ERRORS | UPSTREAM)
Name = Annotated[str, Path(pattern=INSTANCE_NAME)]


def instance_public(row: dict[str, Any], statuses: dict[str, dict[str, Any]]) -> InstancePublic:
    last = statuses.get(str(row.get("instance_id")))
    return InstancePublic(
        instance_id=str(row.get("instance_id", "")),
        name=str(row.get("name", "")),
        company_id=str(row.get("company_id", "")),
        channel=str(row.get("channel", "whatsapp")),
        status=row.get("status"),
        last_status=None
        if last is None
        else InstanceLastStatus(
            status=last["status"],
            at=datetime.fromtimestamp(last["at"] / 1000, UTC),
            event_id=last["event_id"],
        ),
    )


@router.put(
    "/{name}",
    responses={409: {"description": "The name belongs to another company"}},
    summary="Register or update an instance (webhook secret and API key are write-only)",
)
async def put_instance(
    name: Name, body: InstanceUpsert, key: InstancesWrite, ports: PortsDep
) -> InstancePublic:
    """Registering a new instance needs its own Evolution token in `api_key` (the `hash` Evolution returned
    when the instance was created), checked with Evolution: 422 naming `api_key` when it is missing or not
    that instance's token. A name registered by another company is 409."""
    # Whether the name is free is decided by evolution-manager, atomically: a lookup here first would leave
    # the gap in which another company takes it.
    request: dict[str, Any] = {"company_id": key.company_id, "channel": body.channel}
    if body.webhook_secret is not None:
        request["webhook_secret"] = body.webhook_secret.get_secret_value()
    if body.api_key is not None:
        request["api_key"] = body.api_key.get_secret_value()
    try:
        row = await ports.evolution.put_instance(name, request)
    except UpstreamRefused as exc:
        if exc.status == 409:
            raise Conflict(f"instance name {name} is not available") from None
        if exc.status == 422:
            raise RequestValidationError(refused_fields(exc)) from None
        raise
    return instance_public(row, await ports.models.instance_statuses(key.company_id))


@router.get("", summary="This company's instances with their last status")
async def list_instances(key: InstancesRead, ports: PortsDep) -> InstancesList:
    rows = await ports.evolution.instances(key.company_id)
    statuses = await ports.models.instance_statuses(key.company_id)
    mine = [row for row in rows if row.get("company_id") == key.company_id]
    return InstancesList(items=[instance_public(row, statuses) for row in mine])


@router.get("/{name}", responses=NOT_FOUND, summary="One instance with its last status")
async def get_instance(name: Name, key: InstancesRead, ports: PortsDep) -> InstancePublic:
    row = await ports.evolution.instance(name)
    if row is None or row.get("company_id") != key.company_id:
        raise NotFound(f"instance {name} not found")
    return instance_public(row, await ports.models.instance_statuses(key.company_id))
