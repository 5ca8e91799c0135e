"""docker-compose.yml is a valid Compose file and says what the issue asks: Redis with an append-only file
and a healthcheck, the five services each built from its own Dockerfile, waiting for a healthy Redis and
checked on their own port, the fakes behind a profile, and configuration only through environment variables
that the services' settings really read. Safe to expose (#20): no secret has a default, only the public
surfaces are published, everything else sits on an internal network, and `.env.example` lists every variable.

The Compose CLI is not installed everywhere the tests run (nor is a Docker daemon), so validity is checked
against the Compose Specification's JSON Schema, the compose-spec project's ``schema/compose-spec.json`` as
check-jsonschema ships it (``--builtin-schema vendor.compose-spec``; pinned by uv.lock, so no network at test
time). Where ``docker compose`` is on PATH, its own ``config`` check runs too.
"""

from __future__ import annotations

import inspect
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from eventbus import Consumer
from pydantic import TypeAdapter
from pydantic_settings import BaseSettings
from servicekit import ServiceSettings
from servicekit.secrets import KNOWN_DEVELOPMENT_VALUES, variable
from servicekit.serve import SHUTDOWN_SECONDS
from typer.main import get_command
from wolfgang.__main__ import app as wolfgang_app
from wolfgang.system import SERVICES, Member

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
SERVICE_NAMES = {s.name for s in SERVICES}
#: `${NAME:-default}` (a setting with a default, or an optional secret with an empty one) and `${NAME:?message}`
#: (a required secret: compose stops when it is unset).
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>[^}]*)\}")
DEFAULTED = re.compile(r":-(?P<default>.*)")
REQUIRED = re.compile(r":\?(?P<message>.+)")
#: A variable holding a credential, by its name.
SECRET = re.compile(r"TOKEN|SECRET|API_KEY|PASSWORD")
#: What may be published on the host: backoffice-api and the two webhook receivers.
PUBLIC = {"backoffice-api": 8000, "evolution-manager": 8001, "autentique-service": 8004}
#: The external APIs: compose must not default them to a fake, which exists only with `--profile fakes`.
UPSTREAM_URLS = {"EVOLUTION_API_URL", "FACEBOOK_GRAPH_URL", "AUTENTIQUE_API_URL"}
#: Services run on demand (`docker compose run --rm <name>`), each in a profile of its own name.
TOOLS = {"cli"}
ENV_EXAMPLE = ROOT / ".env.example"


def load(path: Path = COMPOSE_FILE) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))  # `<<` merges resolved
    return document


def services() -> dict[str, Any]:
    result: dict[str, Any] = load()["services"]
    return result


def interpolate(value: str, given: dict[str, str] | None = None) -> str:
    """What Compose makes of ``value`` when the shell running it sets only ``given`` (the required secrets)."""
    given = given or {}

    def default(match: re.Match[str]) -> str:
        if match["name"] in given:
            return given[match["name"]]
        defaulted = DEFAULTED.fullmatch(match["op"])
        assert defaulted, f"{match[0]}: unset, compose would stop here"
        return defaulted["default"]

    return INTERPOLATION.sub(default, value)


def required() -> dict[str, str]:
    """Each required variable with a value of its own, as a deployment sets them (long, random-looking; a URL
    for a URL)."""
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    names = {m["name"] for m in INTERPOLATION.finditer(text) if REQUIRED.fullmatch(m["op"])}
    return {
        name: f"https://{name.lower().replace('_', '-')}.example.com"
        if name.endswith("_URL")
        else f"{name.lower()}-0123456789abcdef"
        for name in names
    }


def check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_the_compose_file_follows_the_compose_specification() -> None:
    result = check_jsonschema(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_specification_check_rejects_a_misspelt_key(tmp_path: Path) -> None:
    broken = load()
    broken["services"]["redis"]["healthcheck"]["intervall"] = "5s"
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")
    result = check_jsonschema(path)
    assert result.returncode != 0
    assert "intervall" in result.stdout + result.stderr


def compose_cli() -> list[str] | None:
    """``docker compose`` (the v2 plugin), else a standalone ``docker-compose`` v2; v1 predates the spec."""
    docker = shutil.which("docker")
    if docker:
        plugin = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30, check=False)
        if plugin.returncode == 0:
            return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    if standalone:
        version = subprocess.run(
            [standalone, "version", "--short"], capture_output=True, text=True, timeout=30, check=False
        )
        if version.returncode == 0 and version.stdout.strip().lstrip("v").startswith("2"):
            return [standalone]
    return None


@pytest.mark.parametrize("profiles", [[], ["--profile", "fakes"]], ids=["services", "with-fakes"])
def test_docker_compose_config_accepts_the_file(profiles: list[str]) -> None:
    cli = compose_cli()
    if cli is None:
        pytest.skip(
            "no `docker compose` plugin nor docker-compose v2 on PATH; the schema check above stands in"
        )
    # COMPOSE_FILE, COMPOSE_PROFILES, … in the shell running the tests would change what is checked.
    environ = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")} | required()
    result = subprocess.run(
        [*cli, "--file", str(COMPOSE_FILE), *profiles, "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=environ,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_redis_keeps_an_append_only_file_and_reports_its_health() -> None:
    redis = services()["redis"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--appendfsync") + 1] == "everysec"
    # An evicting policy would drop stream entries and processed marks: losses and repeated side effects.
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert any(volume.endswith(":/data") for volume in redis["volumes"]), "the AOF must outlive the container"
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


def test_the_file_runs_the_five_services_and_the_three_fakes() -> None:
    fakes = {"fake-evolution", "fake-autentique", "fake-graph"}
    assert set(services()) == {"redis", *SERVICE_NAMES, *fakes, *TOOLS}


def test_the_fakes_start_only_with_the_fakes_profile() -> None:
    for name, spec in services().items():
        expected = ["fakes"] if name.startswith("fake-") else [name] if name in TOOLS else None
        assert spec.get("profiles") == expected, name


def test_nothing_started_by_default_depends_on_a_fake() -> None:
    # Compose refuses to start a service whose dependency sits in a profile that is not enabled.
    for name, spec in services().items():
        if "profiles" not in spec:
            assert not [d for d in spec.get("depends_on", {}) if d.startswith("fake-")], name


def test_no_image_is_taken_at_its_latest_tag() -> None:
    for name, spec in services().items():
        if "image" in spec:
            image = spec["image"]
            assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), name


def test_every_fake_is_built_from_the_fakes_dockerfile_and_checked_on_its_port() -> None:
    for name, spec in services().items():
        if name.startswith("fake-"):
            assert spec["build"] == {"context": ".", "dockerfile": "libs/fakes/Dockerfile"}
            port = spec["command"][spec["command"].index("--port") + 1]
            assert spec["ports"] == [f"127.0.0.1:{port}:{port}"], name
            assert f"127.0.0.1:{port}/" in " ".join(spec["healthcheck"]["test"]), name


def test_the_service_is_built_from_its_own_dockerfile_at_the_repository_root(service: Member) -> None:
    build = services()[service.name]["build"]
    assert build == {"context": ".", "dockerfile": f"services/{service.name}/Dockerfile"}
    assert (ROOT / build["dockerfile"]).is_file()


def test_the_service_waits_for_a_healthy_redis(service: Member) -> None:
    assert services()[service.name]["depends_on"]["redis"] == {"condition": "service_healthy"}


def test_the_service_is_checked_for_readiness_on_its_port(
    service: Member, settings_class: type[BaseSettings]
) -> None:
    spec = services()[service.name]
    port = settings_class.model_fields["port"].default
    assert port == service.default_port
    test = spec["healthcheck"]["test"]
    assert test[0] == "CMD"
    assert f"http://127.0.0.1:{port}/readyz" in test[-1]
    assert spec["restart"] == "unless-stopped"


def test_every_environment_variable_is_one_the_service_reads(
    service: Member, variable_names: dict[str, str]
) -> None:
    environment = services()[service.name]["environment"]
    unknown = sorted(name for name in environment if name.upper() not in variable_names)
    assert not unknown, f"{service.name} reads none of {unknown}; it reads {sorted(variable_names)}"


def test_the_service_settings_take_the_values_compose_gives(
    service: Member,
    settings_class: type[BaseSettings],
    variable_names: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The names above are derived from the settings classes; loading them proves pydantic-settings agrees.
    for name in list(os.environ):
        if name.upper() in variable_names:
            monkeypatch.delenv(name)
    environment = {
        name: interpolate(str(value), required())
        for name, value in services()[service.name]["environment"].items()
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = settings_class()
    for name, value in environment.items():
        field = variable_names.get(name.upper())
        if field is None:
            continue  # an unknown name fails the test above
        if not value:
            assert getattr(settings, field) == settings_class.model_fields[field].default, name  # left unset
            continue
        expected = TypeAdapter(settings_class.model_fields[field].annotation).validate_python(value)
        assert getattr(settings, field) == expected, name


def test_no_secret_has_a_default_and_every_other_variable_has_one() -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    found = list(INTERPOLATION.finditer(text))
    assert found, "the pattern must still match the file's interpolations"
    for match in found:
        name, op = match["name"], match["op"]
        defaulted = DEFAULTED.fullmatch(op)
        if SECRET.search(name):
            assert REQUIRED.fullmatch(op) or (defaulted and not defaulted["default"]), (
                f"{match[0]}: a secret is required (`:?`) or optional with an empty default, never defaulted"
            )
        else:
            assert defaulted or REQUIRED.fullmatch(op), f"{match[0]}: give it a default"
    interpolate(text, required())  # with the required secrets set, compose has a value for everything
    published = sorted(value for value in KNOWN_DEVELOPMENT_VALUES if value in text)
    assert not published, f"the file must not carry published development values: {published}"


def test_the_required_secrets_are_the_ones_production_refuses_to_start_without(
    service: Member, settings_class: type[ServiceSettings]
) -> None:
    environment = services()[service.name]["environment"]
    given = {name for name, value in environment.items() if REQUIRED.search(str(value))}
    needed = {variable(settings_class, field) for field in settings_class.required_secrets}
    assert needed, f"{service.name} needs at least its callers' credentials"
    assert needed <= given, f"{service.name}: compose must require {sorted(needed - given)}"


def test_only_the_public_surfaces_are_published_on_the_host() -> None:
    for name, spec in services().items():
        ports = spec.get("ports", [])
        if name in PUBLIC:
            assert ports == [f"{PUBLIC[name]}:{PUBLIC[name]}"], name
        elif name.startswith("fake-"):
            assert all(str(p).startswith("127.0.0.1:") for p in ports), name  # the developer's loopback
        else:
            assert not ports, f"{name} must not be published: it is reached on the internal network"


def test_redis_and_the_internal_apis_sit_on_an_internal_network() -> None:
    document = load()
    networks = document["networks"]
    assert networks["backend"] == {"internal": True}
    assert not networks["egress"] or not networks["egress"].get("internal")
    for name, spec in document["services"].items():
        assert "backend" in spec["networks"], name
    assert document["services"]["redis"]["networks"] == ["backend"]  # no route out, nothing published
    for name, spec in document["services"].items():
        if spec.get("ports"):
            assert "egress" in spec["networks"], (
                f"{name}: a port is published only from a network with a gateway"
            )


def env_example() -> dict[str, str]:
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    pairs = [line.split("=", 1) for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return {name.strip(): value.strip() for name, value in pairs}


def test_the_env_example_lists_every_variable_and_no_secret_value() -> None:
    listed = env_example()
    used = {m["name"] for m in INTERPOLATION.finditer(COMPOSE_FILE.read_text(encoding="utf-8"))}
    assert used == set(listed), f"missing: {sorted(used - set(listed))}, unused: {sorted(set(listed) - used)}"
    for name, value in listed.items():
        if SECRET.search(name):
            assert value == "", f"{name}: .env.example shows no value for a secret"


def test_the_external_api_urls_are_required_and_nothing_started_by_default_points_at_a_fake() -> None:
    # Without `--profile fakes` a default naming fake-evolution would start a service that fails every call.
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    for match in INTERPOLATION.finditer(text):
        if match["name"] in UPSTREAM_URLS:
            assert REQUIRED.fullmatch(match["op"]), f"{match[0]}: an external API's URL has no default"
    profiled = {name for name, spec in services().items() if spec.get("profiles")}
    for name, spec in services().items():
        if spec.get("profiles"):
            continue
        for variable_name, value in spec.get("environment", {}).items():
            value = interpolate(str(value), required())
            hosts = {host for host in profiled if f"//{host}:" in value or f"//{host}/" in value}
            assert not hosts, f"{name}: {variable_name} points at {hosts}, started only with a profile"


def test_each_replica_is_its_own_consumer(service: Member, monkeypatch: pytest.MonkeyPatch) -> None:
    # `--scale` starts N containers from one definition: a fixed consumer (or container) name would make them
    # one consumer of the group, taking each other's pending events as their own.
    spec = services()[service.name]
    assert "CONSUMER_NAME" not in spec["environment"], service.name
    assert "container_name" not in spec and "hostname" not in spec, service.name
    # Unset, the name is the host name: the container's id, distinct per replica and kept across restarts.
    monkeypatch.delenv("CONSUMER_NAME", raising=False)
    assert ServiceSettings().consumer_name == socket.gethostname()


def seconds(duration: str) -> float:
    """A Compose duration (``1m30s``, ``30s``, ``500ms``) in seconds."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"not a duration: {duration!r}"
    return sum(float(n) * units[u] for n, u in parts)


def test_the_stop_grace_outlasts_the_services_shutdown(service: Member) -> None:
    # SIGTERM: uvicorn finishes requests (SHUTDOWN_SECONDS), then the consumers finish in-flight events
    # (their shutdown_grace) and release the rest; SIGKILL before that leaves events to the visibility timeout.
    consumer_grace = inspect.signature(Consumer).parameters["shutdown_grace"].default.total_seconds()
    grace = seconds(services()[service.name]["stop_grace_period"])
    assert grace > SHUTDOWN_SECONDS + consumer_grace, f"{service.name}: {grace}s"
    assert seconds("1m30s") == 90 and seconds("500ms") == 0.5


def test_the_cli_service_runs_wolfgang_next_to_the_services_and_publishes_nothing() -> None:
    cli = services()["cli"]
    assert cli["build"] == {"context": ".", "dockerfile": "libs/cli/Dockerfile"}
    assert cli["networks"] == ["backend"] and "ports" not in cli
    # `setup` registers the instance through backoffice-api: run after it is ready.
    assert cli["depends_on"] == {"backoffice-api": {"condition": "service_healthy"}}
    assert cli["environment"]["BACKOFFICE_URL"] == "http://backoffice-api:8000"
    assert cli["environment"]["REDIS_URL"] == services()["backoffice-api"]["environment"]["REDIS_URL"]
    assert cli["environment"]["BUS_PREFIX"] == services()["backoffice-api"]["environment"]["BUS_PREFIX"]


def test_the_cli_service_sets_only_variables_wolfgang_setup_reads() -> None:
    group = get_command(wolfgang_app)
    setup = group.commands["setup"]  # type: ignore[attr-defined]
    read = {p.envvar for command in (group, setup) for p in command.params if isinstance(p.envvar, str)}
    environment = set(services()["cli"]["environment"])
    assert environment <= read, f"wolfgang does not read {sorted(environment - read)}"
