"""``instance.status``: published only when an instance's status changes, whoever notices it first (a
``connection.update`` webhook, the refresh on start, an operator's refresh).

The change is decided in Redis (a compare-and-set on the registry hash) and numbered; the event is then
published with the producer key ``instance_id + transition number``. If that publish fails (Redis went away
between the two steps), the transition stays unannounced and the next report of the same status (Evolution
retries the webhook on our 503) publishes it under the same key: never lost, never doubled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import servicekit.upstream as upstream
import structlog
from eventbus import Bus, BusUnavailable, InstanceStatus
from pydantic import SecretStr
from servicekit import ServiceError

from evolution_manager import metrics, webhooks
from evolution_manager.clients.evolution import EvolutionClient
from evolution_manager.errors import EvolutionRejected, MissingApiKey
from evolution_manager.registry import Instance, Registry

log = structlog.get_logger("evolution_manager.statuses")


def api_key_for(instance: Instance, default: SecretStr | None) -> str:
    """The instance's own Evolution token; the deployment's global key only for an instance the platform
    created (``managed``): a company's instance speaks with the token it proved at registration, or not at
    all (the global key would let a forged registration send through any number on the server)."""
    key = instance.api_key or (default if instance.managed else None)
    if key is None:
        raise MissingApiKey(instance.name)
    return key.get_secret_value()


async def record(
    bus: Bus,
    registry: Registry,
    instance: Instance,
    status: webhooks.Status,
    details: dict[str, Any],
    *,
    source: str,
) -> str | None:
    """Store ``status``; publish ``instance.status`` if it is a change. Returns the event id, or ``None``."""
    seq = await registry.begin_transition(instance, status, details)
    if seq == 0:
        return None
    payload = InstanceStatus(
        instance_id=instance.instance_id,
        company_id=instance.company_id,
        channel="whatsapp",
        status=status,
        details={**details, "source": source},
    )
    published = await bus.emit(
        payload, company_id=instance.company_id, dedupe_key=f"{instance.instance_id}:status:{seq}"
    )
    await registry.announced(instance, seq)
    if not published.duplicate:
        metrics.STATUS_CHANGES.labels(status, source).inc()
        log.info(
            "instance_status_changed", instance=instance.name, status=status, event_id=published.event_id
        )
    return published.event_id


@dataclass(frozen=True)
class Refreshed:
    instance: Instance
    state: str
    event_id: str | None


async def refresh(
    instance: Instance,
    *,
    bus: Bus,
    registry: Registry,
    evolution: EvolutionClient,
    default_api_key: SecretStr | None,
) -> Refreshed:
    """Ask Evolution for the connection state now and record it (reference §8)."""
    api_key = api_key_for(instance, default_api_key)
    mapped: tuple[webhooks.Status, dict[str, Any]] | None
    try:
        state = await upstream.with_retries(
            lambda: evolution.connection_state(instance.name, api_key=api_key), attempts=2
        )
    except EvolutionRejected as exc:
        if exc.status != 404:
            raise
        # Registered here, unknown to Evolution: it cannot connect until someone recreates it.
        state, mapped = "missing", ("error", {"state": "missing", "reason": "instance does not exist"})
    else:
        mapped = webhooks.to_status(state)
    event_id = None
    if mapped is not None:
        event_id = await record(bus, registry, instance, mapped[0], mapped[1], source="refresh")
    return Refreshed(await registry.get(instance.name), state, event_id)


async def refresh_all(
    *, bus: Bus, registry: Registry, evolution: EvolutionClient, default_api_key: SecretStr | None
) -> int:
    """Refresh every registered instance; one failing does not stop the others. Returns how many worked."""
    done = 0
    for instance in await registry.list():
        try:
            await refresh(
                instance, bus=bus, registry=registry, evolution=evolution, default_api_key=default_api_key
            )
            done += 1
        except (ServiceError, BusUnavailable, MissingApiKey) as exc:
            log.warning("instance_refresh_failed", instance=instance.name, error=str(exc))
    return done
