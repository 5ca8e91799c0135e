"""No default secrets outside development: what a production process checks before it serves.

A service's settings name the secrets it cannot work without (``required_secrets``). In production
(``WOLFGANG_ENV`` unset or ``production``) :func:`refuse_unsafe` stops the process, with one line naming each
variable, when one of them is missing or too short, or when any secret setting holds a value this repository
publishes: the old shared ``dev-service-token`` and the local fakes' placeholder keys, which anyone can read.
Development (``make run``, the tests) skips the check: ``wolfgang up`` passes generated credentials anyway.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping

from pydantic import AliasChoices, SecretStr

from servicekit.settings import ServiceSettings

#: Values published in this repository (docs, fakes, demo, old defaults): never a production secret.
KNOWN_DEVELOPMENT_VALUES = frozenset(
    {
        "dev-service-token",
        "dev-instance-webhook-secret",
        "fake-evolution-global-apikey",
        "fake-instance-apikey",
        "fake-autentique-token",
        "fake-autentique-webhook-secret",
        "fake-graph-token",
    }
)
#: A required secret shorter than this is a typo or a placeholder (``wolfgang up`` generates 43 characters).
MIN_LENGTH = 16


class UnsafeSettings(SystemExit):
    """The process must not serve with these settings; the message names every variable at fault."""


def variable(settings: type[ServiceSettings], field: str) -> str:
    """The environment variable that fills ``field``: its upper-case alias, else ``<env_prefix><FIELD>``."""
    alias = settings.model_fields[field].validation_alias
    choices = alias.choices if isinstance(alias, AliasChoices) else [alias] if isinstance(alias, str) else []
    named = [c for c in choices if isinstance(c, str) and c.isupper()]
    return named[0] if named else (str(settings.model_config.get("env_prefix", "")) + field).upper()


def _secrets(settings: ServiceSettings) -> Iterator[tuple[str, str]]:
    """(field, value) of every secret setting: ``SecretStr`` fields and mappings of them (per company)."""
    for field in type(settings).model_fields:
        value = getattr(settings, field)
        if isinstance(value, SecretStr):
            yield field, value.get_secret_value()
        elif isinstance(value, Mapping):
            for item in value.values():
                if isinstance(item, SecretStr):
                    yield field, item.get_secret_value()


def problems(settings: ServiceSettings) -> list[str]:
    """What makes ``settings`` unfit for production, one phrase per variable; empty when fit."""
    found: dict[str, str] = {}
    kind = type(settings)
    for field, value in _secrets(settings):
        name = variable(kind, field)
        if not value.strip():
            found.setdefault(name, f"{name} is empty")
        elif value in KNOWN_DEVELOPMENT_VALUES:
            found.setdefault(name, f"{name} holds a published development value")
        elif field in settings.required_secrets and len(value) < MIN_LENGTH:
            found.setdefault(name, f"{name} is shorter than {MIN_LENGTH} characters")
    for field in settings.required_secrets:
        if getattr(settings, field) is None:
            name = variable(kind, field)
            found.setdefault(name, f"{name} is not set")
    return list(found.values())


def refuse_unsafe(settings: ServiceSettings, *, service: str) -> None:
    """In production, exit (status 1, one line on stderr) when :func:`problems` finds any."""
    if settings.development:
        return
    found = problems(settings)
    if found:
        message = f"{service}: refusing to start in production (WOLFGANG_ENV=production): {'; '.join(found)}"
        print(message, file=sys.stderr, flush=True)
        raise UnsafeSettings(1)
