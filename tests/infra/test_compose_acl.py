"""infra/compose.acl.yml (issue #20, finding 5): Redis loads the aclfile `wolfgang acl-file` writes, and each
service connects as its own user with a password compose requires."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml
from eventbus import acl
from wolfgang.acl import password_variable
from wolfgang.system import SERVICE_NAMES

OVERRIDE = Path(__file__).resolve().parents[2] / "infra" / "compose.acl.yml"


def test_the_override_follows_the_compose_specification() -> None:
    command = [
        sys.executable,
        "-m",
        "check_jsonschema",
        "--builtin-schema",
        "vendor.compose-spec",
        str(OVERRIDE),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_redis_loads_the_aclfile_and_each_service_is_its_own_user_with_a_required_password() -> None:
    services = yaml.safe_load(OVERRIDE.read_text(encoding="utf-8"))["services"]
    redis = services["redis"]
    assert redis["command"][-2:] == ["--aclfile", "/etc/redis/users.acl"]
    assert "./infra/users.acl:/etc/redis/users.acl:ro" in redis["volumes"]
    assert redis["environment"]["REDISCLI_AUTH"].startswith("${REDIS_ADMIN_PASSWORD:?")
    assert set(services) - {"redis"} == set(SERVICE_NAMES) == set(acl.services())
    for name in SERVICE_NAMES:
        url = services[name]["environment"]["REDIS_URL"]
        variable = password_variable(name)
        assert re.fullmatch(rf"redis://{name}:\$\{{{variable}:\?[^}}]+\}}@redis:6379/0", url), url
