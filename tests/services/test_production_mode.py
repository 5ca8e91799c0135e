"""Production is the default mode, and a production process refuses to start without its secrets or with a
value this repository publishes (`dev-service-token`, the fakes' keys): one line naming the variable, exit 1,
before anything listens. Real processes, as `python -m <service>` starts them."""

import os
import subprocess
import sys

import pytest
from agent_runtime.settings import Settings as AgentSettings
from autentique_service.settings import Settings as AutentiqueSettings
from backoffice_api.settings import Settings as BackofficeSettings
from eventbus.server import free_port
from evolution_manager.settings import Settings as EvolutionSettings
from facebook_capi.settings import Settings as CapiSettings
from fakes.autentique import DEFAULT_API_TOKEN
from fakes.evolution import DEFAULT_GLOBAL_APIKEY
from servicekit.secretbox import generate_key
from servicekit.secrets import KNOWN_DEVELOPMENT_VALUES, problems
from wolfgang.credentials import generate
from wolfgang.system import INSTANCE_APIKEY, INSTANCE_WEBHOOK_SECRET, PIXEL_TOKEN

#: module, the variable the published value is put in, and the variables the line must name.
CASES = {
    "agent_runtime": ({"AGENT_ADMIN_TOKEN": "dev-service-token"}, ["AGENT_ADMIN_TOKEN"]),
    "facebook_capi": ({"CAPI_ADMIN_TOKEN": "dev-service-token"}, ["CAPI_ADMIN_TOKEN"]),
    "evolution_manager": (
        {"EVOLUTION_ADMIN_TOKEN": "x" * 40, "EVOLUTION_API_KEY": DEFAULT_GLOBAL_APIKEY},
        ["EVOLUTION_API_KEY"],
    ),
    "autentique_service": (
        {"AUTENTIQUE_API_TOKEN": DEFAULT_API_TOKEN, "AUTENTIQUE_SERVICE_TOKEN": "x" * 40},
        ["AUTENTIQUE_API_TOKEN", "AUTENTIQUE_WEBHOOK_SECRET"],
    ),
    "backoffice_api": (
        {"AGENT_ADMIN_TOKEN": "dev-service-token"},
        ["AUTENTIQUE_SERVICE_TOKEN", "EVOLUTION_ADMIN_TOKEN", "AGENT_ADMIN_TOKEN"],
    ),
}
SECRET_VARIABLES = {
    "AGENT_ADMIN_TOKEN", "CAPI_ADMIN_TOKEN", "EVOLUTION_ADMIN_TOKEN", "EVOLUTION_OPERATOR_TOKEN",
    "EVOLUTION_API_KEY", "AUTENTIQUE_API_TOKEN", "AUTENTIQUE_SERVICE_TOKEN", "AUTENTIQUE_WEBHOOK_SECRET",
}  # fmt: skip


@pytest.mark.parametrize("module", CASES)
def test_a_production_service_with_a_published_or_missing_secret_refuses_to_start(module: str) -> None:
    given, named = CASES[module]
    environ = {k: v for k, v in os.environ.items() if k not in SECRET_VARIABLES and k != "WOLFGANG_ENV"}
    port = str(free_port())
    environ |= given | {f"{prefix}_PORT": port for prefix in ("AGENT", "CAPI", "EVOLUTION", "AUTENTIQUE")}
    environ |= {"BACKOFFICE_PORT": port, "REDIS_URL": "redis://127.0.0.1:1/0"}
    try:
        done = subprocess.run(
            [sys.executable, "-m", module], env=environ, capture_output=True, text=True, timeout=30
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{module} started in production with {sorted(given)}")
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert "refusing to start in production" in line
    for variable in named:
        assert variable in line
    for value in given.values():
        assert value not in line  # the line names variables, never their values
    assert "Uvicorn running" not in done.stdout + done.stderr


def test_production_is_the_default_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WOLFGANG_ENV", raising=False)
    assert AgentSettings().wolfgang_env == "production" and not AgentSettings().docs_enabled
    monkeypatch.setenv("WOLFGANG_ENV", "development")
    assert AgentSettings().development and AgentSettings().docs_enabled


def test_generated_credentials_are_fit_for_production() -> None:
    values = generate()
    # What an operator supplies besides the pairs: the upstreams' own keys, and the key sealing stored secrets.
    real = {"AUTENTIQUE_API_TOKEN": "a" * 64, "EVOLUTION_API_KEY": "b" * 32, "SECRETS_KEYS": generate_key()}
    for settings_class in (
        AgentSettings,
        CapiSettings,
        EvolutionSettings,
        AutentiqueSettings,
        BackofficeSettings,
    ):
        environ = values | real
        settings = settings_class(
            **{f: environ[v] for f, v in _fields(settings_class).items() if v in environ}
        )
        assert problems(settings) == [], settings_class


def test_every_placeholder_this_repository_publishes_is_known() -> None:
    published = {
        DEFAULT_API_TOKEN,
        DEFAULT_GLOBAL_APIKEY,
        INSTANCE_APIKEY,
        INSTANCE_WEBHOOK_SECRET,
        PIXEL_TOKEN,
    }
    published |= {"dev-service-token", "fake-autentique-webhook-secret"}
    assert published <= KNOWN_DEVELOPMENT_VALUES


def _fields(settings_class) -> dict[str, str]:
    from servicekit.secrets import variable

    return {field: variable(settings_class, field) for field in settings_class.model_fields}
