"""What `make run`'s banner prints works as typed: the CLI through the project's ./wolfgang launcher (no uv on
PATH needed), the data directory named when it is not the default one, and a webhook with the instance's
secret in the header evolution-manager checks."""

import json
import shlex
import sys
from pathlib import Path

import pytest
from wolfgang.banner import cli_command, webhook_curl
from wolfgang.system import INSTANCE, INSTANCE_WEBHOOK_SECRET, System

ROOT = Path(sys.prefix).resolve().parent  # the venv's project: where ./wolfgang lives

pytestmark = pytest.mark.skipif(not (ROOT / "wolfgang").is_file(), reason="not run from the project's venv")


def test_from_the_project_the_cli_is_the_launcher_and_the_default_data_dir_is_implied():
    assert cli_command(ROOT / ".data", cwd=ROOT) == "./wolfgang"


def test_from_elsewhere_the_launcher_is_named_by_its_path(tmp_path):
    assert cli_command(ROOT / ".data", cwd=tmp_path) == str(ROOT / "wolfgang")


def test_another_data_dir_is_named_so_that_the_cli_finds_that_system(tmp_path):
    command = shlex.split(cli_command(tmp_path / "data", cwd=ROOT))
    assert command == [f"WOLFGANG_DATA_DIR={tmp_path / 'data'}", "./wolfgang"]


def test_the_webhook_line_posts_an_evolution_message_with_the_instances_secret():
    system = System("redis://127.0.0.1:6390/0")
    curl = shlex.split(webhook_curl(system))

    assert curl[:3] == ["curl", "-s", f"{system.url('evolution-manager')}/webhooks/evolution"]
    assert f"x-shared-secret: {INSTANCE_WEBHOOK_SECRET}" in curl
    body = json.loads(curl[curl.index("-d") + 1])
    assert body["event"] == "messages.upsert" and body["instance"] == INSTANCE
    assert body["data"]["message"]["conversation"]
