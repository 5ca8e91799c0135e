"""What a registration must prove before it is stored: that the company holds the instance's own token.

Evolution has no owner for an instance other than whoever holds its token (reference §1, §9: every route
takes the global key or ``Instance.token``). So a company registers an instance with that token, and
Evolution is asked whether it takes it for that instance (``GET /instance/connectionState/{name}`` with the
token as ``apikey``: 200 accepted, 401 not this instance's, 404 no such instance, checked before the key).
The global key is accepted there too, so it is refused here by comparison: it proves nothing about a
company. Only the platform operator registers without a token (instances it created itself, ``managed``)
or moves an instance to another company.
"""

from __future__ import annotations

import hmac

import structlog
from fastapi.exceptions import RequestValidationError
from pydantic import SecretStr
from servicekit import Forbidden

from evolution_manager.authentication import Caller
from evolution_manager.clients.evolution import EvolutionClient
from evolution_manager.errors import EvolutionRejected, InstanceTaken, UnknownInstance
from evolution_manager.registry import Instance, InstanceConfig, Registry

log = structlog.get_logger("evolution_manager.registration")


def _refused(field: str, message: str) -> RequestValidationError:
    loc = ("path", "name") if field == "name" else ("body", field)
    return RequestValidationError([{"loc": loc, "msg": message, "type": "value_error"}])


async def verify_token(
    name: str, token: SecretStr, *, evolution: EvolutionClient, global_key: SecretStr | None
) -> None:
    """Raise a 422 naming ``api_key`` (or ``name``) unless Evolution takes ``token`` for instance ``name``
    and it is not the deployment's global key. Evolution unreachable: ``UpstreamUnavailable`` (502)."""
    value = token.get_secret_value()
    if global_key is not None and hmac.compare_digest(value.encode(), global_key.get_secret_value().encode()):
        raise _refused("api_key", "must be the instance's own token, not the server's global key")
    try:
        await evolution.connection_state(name, api_key=value)
    except EvolutionRejected as exc:
        if exc.status == 404:
            raise _refused("name", "the Evolution server has no instance by this name") from None
        if exc.status in (401, 403):
            raise _refused("api_key", "Evolution does not accept this token for this instance") from None
        raise


async def _not_taken(registry: Registry, name: str, company_id: str) -> None:
    try:
        current = await registry.get(name)
    except UnknownInstance:
        return
    if current.company_id != company_id:
        raise InstanceTaken(name)


async def register(
    name: str,
    config: InstanceConfig,
    *,
    caller: Caller,
    registry: Registry,
    evolution: EvolutionClient,
    global_key: SecretStr | None,
) -> tuple[Instance, bool]:
    """Register or update ``name`` for ``config.company_id`` as ``caller`` may (module docstring)."""
    operator = caller == "operator"
    if config.managed is not None and not operator:
        raise Forbidden("only the platform operator marks an instance as created by the platform (managed)")
    if config.api_key is not None and not operator:
        # Not the decision (registry.put takes it atomically), but no call to Evolution on behalf of a
        # company for a name another company holds: it would tell whether a token opens that instance.
        await _not_taken(registry, name, config.company_id)
        await verify_token(name, config.api_key, evolution=evolution, global_key=global_key)
    instance, created = await registry.put(name, config, operator=operator)
    log.info(
        "instance_registered",
        instance=name,
        company_id=instance.company_id,
        created=created,
        caller=caller,
        managed=instance.managed,
    )
    return instance, created
