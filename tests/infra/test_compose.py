"""docker-compose.yml is a valid Compose file and says what the issue asks: Redis with an append-only file
and a healthcheck, the five services each built from its own Dockerfile, waiting for a healthy Redis and
checked on their own port, the fakes behind a profile, and configuration only through environment variables
that the services' settings really read.

The Compose CLI is not installed everywhere the tests run (nor is a Docker daemon), so validity is checked
against the Compose Specification's JSON Schema, the compose-spec project's ``schema/compose-spec.json`` as
check-jsonschema ships it (``--builtin-schema vendor.compose-spec``; pinned by uv.lock, so no network at test
time). Where ``docker compose`` is on PATH, its own ``config`` check runs too.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import TypeAdapter
from pydantic_settings import BaseSettings
from wolfgang.system import SERVICES, Member

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
SERVICE_NAMES = {s.name for s in SERVICES}
#: `${NAME:-default}`: the one interpolation form the file uses, so that it runs with nothing set.
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>[^}]*)\}")
DEFAULTED = re.compile(r":-(?P<default>.*)")


def load(path: Path = COMPOSE_FILE) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))  # `<<` merges resolved
    return document


def services() -> dict[str, Any]:
    result: dict[str, Any] = load()["services"]
    return result


def interpolate(value: str) -> str:
    """What Compose makes of ``value`` when the shell running it sets none of the variables."""

    def default(match: re.Match[str]) -> str:
        defaulted = DEFAULTED.fullmatch(match["op"])
        assert defaulted, f"{match[0]}: give it a default (`${{{match['name']}:-…}}`) so nothing must be set"
        return defaulted["default"]

    return INTERPOLATION.sub(default, value)


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
    environ = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
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
    assert any(volume.endswith(":/data") for volume in redis["volumes"]), "the AOF must outlive the container"
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


def test_the_file_runs_the_five_services_and_the_three_fakes() -> None:
    fakes = {"fake-evolution", "fake-autentique", "fake-graph"}
    assert set(services()) == {"redis", *SERVICE_NAMES, *fakes}


def test_the_fakes_start_only_with_the_fakes_profile() -> None:
    for name, spec in services().items():
        expected = ["fakes"] if name.startswith("fake-") else None
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
            assert spec["ports"] == [f"{port}:{port}"], name
            assert f"127.0.0.1:{port}/" in " ".join(spec["healthcheck"]["test"]), name


def test_the_service_is_built_from_its_own_dockerfile_at_the_repository_root(service: Member) -> None:
    build = services()[service.name]["build"]
    assert build == {"context": ".", "dockerfile": f"services/{service.name}/Dockerfile"}
    assert (ROOT / build["dockerfile"]).is_file()


def test_the_service_waits_for_a_healthy_redis(service: Member) -> None:
    assert services()[service.name]["depends_on"]["redis"] == {"condition": "service_healthy"}


def test_the_service_is_published_and_checked_for_readiness_on_its_port(
    service: Member, settings_class: type[BaseSettings]
) -> None:
    spec = services()[service.name]
    port = settings_class.model_fields["port"].default
    assert port == service.default_port
    assert spec["ports"] == [f"{port}:{port}"]
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
        name: interpolate(str(value)) for name, value in services()[service.name]["environment"].items()
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = settings_class()
    for name, value in environment.items():
        field = variable_names.get(name.upper())
        if field is None:
            continue  # an unknown name fails the test above
        expected = TypeAdapter(settings_class.model_fields[field].annotation).validate_python(value)
        assert getattr(settings, field) == expected, name


def test_every_interpolated_variable_has_a_default() -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    found = INTERPOLATION.findall(text)
    assert found, "the pattern must still match the file's `${NAME:-default}`s"
    interpolate(text)
