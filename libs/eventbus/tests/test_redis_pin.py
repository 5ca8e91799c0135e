"""eventbus reaches into redis-py below its public API (eventbus.line, eventbus.client): the installed redis-py
must be the release range those internals were written and tested against, and they must still be there."""

import inspect
from importlib.metadata import requires, version

from packaging.requirements import Requirement
from redis.asyncio import Redis
from redis.asyncio.connection import Connection


def _declared_redis() -> Requirement:
    (redis,) = [r for r in map(Requirement, requires("eventbus") or []) if r.name == "redis"]
    return redis


def test_the_installed_redis_py_is_inside_the_pinned_range() -> None:
    declared = _declared_redis()
    assert declared.specifier.contains(version("redis")), f"redis {version('redis')} outside {declared}"


def test_the_pin_has_an_upper_bound_so_a_new_release_cannot_slip_in() -> None:
    assert any(spec.operator in ("<", "<=", "==", "~=") for spec in _declared_redis().specifier)


def test_the_connection_internals_eventbus_uses_are_still_there() -> None:
    assert callable(Connection.pack_commands)
    assert callable(Connection.send_packed_command)
    assert "check_health" in inspect.signature(Connection.send_packed_command).parameters
    assert "nowait" in inspect.signature(Connection.disconnect).parameters
    assert callable(Connection.pack_command)  # eventbus.client overrides it with hiredis's packer
    assert callable(Redis.parse_response)  # eventbus.line reads a pipeline's replies through it
