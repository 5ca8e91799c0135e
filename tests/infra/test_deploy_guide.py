"""docs/deploy.md's commands hold against what they name: every `docker compose` line names services the
compose file has and, through the `cli` service, `wolfgang` commands and options that exist; the JSON and
Python it gives parse; its compose overrides name real services and keep Redis's persistence flags. No Docker
daemon here, so nothing is run; the snippets that talk to a service are run by the e2e tests
(tests/e2e/test_setup.py: the printed Evolution webhook).
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.main import get_command
from wolfgang.__main__ import app

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "deploy.md"
FENCE = re.compile(r"^```(?P<lang>\w*)\n(?P<body>.*?)^```", re.MULTILINE | re.DOTALL)
HEREDOC = re.compile(r"<<'EOF'\n(?P<body>.*?)^EOF$", re.MULTILINE | re.DOTALL)
INLINE = re.compile(r"`(docker compose [^`]+)`")


def blocks(lang: str) -> list[str]:
    return [m["body"] for m in FENCE.finditer(GUIDE.read_text(encoding="utf-8")) if m["lang"] == lang]


def compose_services() -> set[str]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    return set(document["services"])


def compose_lines() -> list[list[str]]:
    """Every `docker compose …` command of the sh blocks and the prose, split as the shell would."""
    text = "\n".join(HEREDOC.sub("", body) for body in blocks("sh"))
    lines = [line for line in text.splitlines() if line.startswith("docker compose ")]
    lines += INLINE.findall(GUIDE.read_text(encoding="utf-8"))
    return [shlex.split(line, comments=True)[2:] for line in lines]


def named_services(words: list[str]) -> list[str]:
    verb, rest = words[0], words[1:]
    if verb in ("exec", "run"):
        return [next(w for w in rest if not w.startswith("-"))]  # the options before it take no value here
    if verb == "cp":
        return [w.split(":", 1)[0] for w in rest if re.match(r"^[\w-]+:/", w)]
    if verb == "up":
        return [w for i, w in enumerate(rest) if not w.startswith("-") and rest[i - 1] != "--scale"] + [
            w.split("=", 1)[0] for i, w in enumerate(rest) if i and rest[i - 1] == "--scale"
        ]
    return []


def test_the_guide_has_commands_to_check() -> None:
    verbs = {words[0] for words in compose_lines()}
    assert {"up", "ps", "exec", "run", "cp", "build"} <= verbs, verbs


def test_every_service_the_guide_names_is_in_the_compose_file() -> None:
    known = compose_services()
    for words in compose_lines():
        unknown = set(named_services(words)) - known
        assert not unknown, f"docker compose {' '.join(words)}: no service {unknown}"


def wolfgang_command(args: list[str]) -> tuple[Any, list[str]]:
    """The (sub)command ``args`` reach and the options given to it. (Typer's groups are click groups by
    shape, not by class: hence ``commands`` rather than ``isinstance``.)"""
    command: Any = get_command(app)
    rest = list(args)
    while hasattr(command, "commands") and rest and rest[0] in command.commands:
        command = command.commands[rest.pop(0)]
    assert not hasattr(command, "commands"), f"wolfgang {' '.join(args)}: names no command"
    return command, [w.split("=", 1)[0] for w in rest if w.startswith("--")]


def test_every_wolfgang_command_of_the_guide_exists_with_its_options() -> None:
    runs = [words for words in compose_lines() if words[0] == "run"]
    assert runs
    for words in runs:
        assert words[1:3] == ["--rm", "cli"], words  # a one-off container, removed when done
        command, given = wolfgang_command(words[3:])
        known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
        assert set(given) <= known, f"wolfgang {' '.join(words[3:])}: unknown {set(given) - known}"


def test_the_json_and_the_python_of_the_guide_parse() -> None:
    for body in blocks("json"):
        json.loads(body)
    snippets = [m["body"] for body in blocks("sh") for m in HEREDOC.finditer(body)]
    assert snippets
    for snippet in snippets:
        compile(snippet, "deploy.md", "exec")


class OverrideLoader(yaml.SafeLoader):
    """Compose's `!override` tag, read as the list it wraps."""


OverrideLoader.add_constructor("!override", lambda loader, node: loader.construct_sequence(node))


def test_the_compose_overrides_name_real_services_and_keep_redis_durable() -> None:
    overrides = [yaml.load(body, Loader=OverrideLoader) for body in blocks("yaml")]  # noqa: S506 - safe subclass
    assert overrides
    compose: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    for override in overrides:
        for name, spec in override["services"].items():
            assert name in compose["services"], name
            for port in spec.get("ports", []):
                host, published, target = port.split(":")
                assert host == "127.0.0.1" and compose["services"][name]["ports"] == [f"{published}:{target}"]
            if "command" in spec:
                # An override replaces the whole command: it must start with compose's own.
                base = compose["services"][name]["command"]
                assert spec["command"][: len(base)] == base, name


@pytest.mark.parametrize("path", ["/webhooks/evolution", "/webhooks/autentique"])
def test_the_proxy_forwards_each_webhook_path_to_its_published_port(path: str) -> None:
    (caddyfile,) = blocks("caddy")
    port = {"/webhooks/evolution": 8001, "/webhooks/autentique": 8004}[path]
    assert re.search(rf"handle {re.escape(path)}\* {{\s*reverse_proxy 127\.0\.0\.1:{port}\s*}}", caddyfile)
    compose: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    service = {8001: "evolution-manager", 8004: "autentique-service"}[port]
    assert compose["services"][service]["ports"] == [f"{port}:{port}"]
