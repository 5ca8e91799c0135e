"""infra/: the Prometheus configuration and alert rules pass Prometheus's own checker and rule unit tests, every
series they and the Grafana dashboard use exists, every alert has its runbook, and the compose profile, the
collector and Redis configurations say what docs/operations.md says they do.

``promtool`` comes from Debian's ``prometheus`` package; ``make test`` installs it when missing (``make tools``).
Where it cannot be installed (no apt-get) its tests skip saying so, except under CI (``CI`` set), where a missing
promtool fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
PROMETHEUS = INFRA / "prometheus"
DASHBOARD = INFRA / "grafana" / "dashboards" / "wolfgang.json"
OPERATIONS = ROOT / "docs" / "operations.md"

#: Series from outside this repository's code: redis_exporter (oliver006/redis_exporter) in the compose profile.
EXTERNAL = {"redis_memory_used_bytes", "redis_memory_max_bytes", "redis_connected_clients"}
#: Series that work in progress adds; a rule on them is silent until then. Remove a name once it exists.
PENDING: dict[str, str] = {}
PROMQL_WORDS = {
    "sum", "max", "min", "avg", "count", "by", "without", "rate", "increase", "delta", "irate",
    "histogram_quantile", "and", "or", "unless", "on", "ignoring", "group_left", "group_right", "bool",
}  # fmt: skip


def promtool() -> str:
    found = shutil.which("promtool")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("promtool is missing under CI: `make tools` installs Debian's prometheus package")
    pytest.skip("promtool not installed and apt-get unavailable here: `make tools` installs it where it can")


def run(*args: str, cwd: Path = PROMETHEUS) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_scrape_configuration_passes_promtool(tmp_path: Path) -> None:
    # promtool also checks that the scraper's credentials file exists; in compose it is a secret mounted at
    # /run/secrets/metrics_token, here a file of our own beside a copy of the config (rules included).
    token = tmp_path / "metrics_token"
    token.write_text("scraper-credential-for-the-check")
    text = (PROMETHEUS / "prometheus.yml").read_text()
    assert "/run/secrets/metrics_token" in text, "the services' /metrics need the scraper's credential"
    (tmp_path / "prometheus.yml").write_text(text.replace("/run/secrets/metrics_token", str(token)))
    shutil.copy(PROMETHEUS / "alerts.yml", tmp_path / "alerts.yml")
    result = run("check", "config", "prometheus.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alert_rules_pass_promtool() -> None:
    result = run("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in result.stdout


def test_the_lag_dead_letter_and_503_alerts_pass_their_rule_unit_tests() -> None:
    result = run("test", "rules", "alerts.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    tested = {
        case["alertname"]
        for test in load(PROMETHEUS / "alerts.test.yml")["tests"]
        for case in test["alert_rule_test"]
    }
    assert {"ConsumerLagHigh", "DeadLettersGrowing"} <= tested


def test_promtool_rule_tests_catch_a_wrong_threshold(tmp_path: Path) -> None:
    # The rule tests are not vacuous: the lag alert at a threshold of 1000 no longer fires where expected.
    for name in ("alerts.yml", "alerts.test.yml"):
        (tmp_path / name).write_text((PROMETHEUS / name).read_text(encoding="utf-8"), encoding="utf-8")
    rules = tmp_path / "alerts.yml"
    rules.write_text(rules.read_text().replace("(eventbus_group_lag) > 100", "(eventbus_group_lag) > 1000"))
    result = run("test", "rules", "alerts.test.yml", cwd=tmp_path)
    assert result.returncode != 0 and "ConsumerLagHigh" in result.stdout + result.stderr


def test_every_series_in_the_rules_and_the_dashboard_exists() -> None:
    known = code_metrics() | EXTERNAL | set(PENDING)
    used = {name: "alerts.yml" for rule in alerts() for name in series(rule["expr"])}
    used |= {
        name: f"dashboard panel {title!r}" for title, expr in dashboard_queries() for name in series(expr)
    }
    unknown = {name: where for name, where in used.items() if name not in known}
    assert not unknown, f"series no code exports: {unknown}"
    assert {"eventbus_group_lag", "eventbus_group_dead_letters", "http_server_requests_total"} <= set(used)


def test_every_alert_has_a_runbook_section_in_operations_md() -> None:
    headings = {
        anchor(line.lstrip("# ")) for line in OPERATIONS.read_text().splitlines() if line.startswith("### ")
    }
    for rule in alerts():
        url = rule["annotations"]["runbook_url"]
        assert url == f"docs/operations.md#{rule['alert'].lower()}", url
        assert rule["alert"].lower() in headings, f"docs/operations.md has no '### {rule['alert']}' section"
        assert rule["annotations"]["summary"] and rule["labels"]["severity"] in {"warning", "critical"}


def test_the_issue_s_alerts_are_all_there() -> None:
    names = {rule["alert"] for rule in alerts()}
    assert names >= {
        "ConsumerLagHigh", "DeadLettersGrowing", "OutcomeUnknown", "CircuitOpen", "UnreadEventsTrimmed",
        "HttpErrorRateHigh", "WebhooksAnswered503", "RedisMemoryNearCeiling",
    }  # fmt: skip


def test_the_dashboard_is_provisioned_well_formed_and_generated() -> None:
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert board["uid"] and board["title"] and board["schemaVersion"] >= 36
    panels = board["panels"]
    assert len({p["id"] for p in panels}) == len(panels), "panel ids are unique"
    graphs = [p for p in panels if p["type"] != "row"]
    assert len(graphs) >= 12
    uids = {d["uid"] for d in load(INFRA / "grafana/provisioning/datasources/datasources.yml")["datasources"]}
    for panel in graphs:
        grid = panel["gridPos"]
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        assert panel["datasource"]["uid"] in uids and panel["targets"], panel["title"]
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"]), panel["title"]
    provider = load(INFRA / "grafana/provisioning/dashboards/dashboards.yml")["providers"][0]
    compose = load(INFRA / "compose.observability.yml")
    assert (
        f"./infra/grafana/dashboards:{provider['options']['path']}:ro"
        in compose["services"]["grafana"]["volumes"]
    )
    generated = subprocess.run(
        [sys.executable, "-c", "import json, make_dashboard; print(json.dumps(make_dashboard.dashboard()))"],
        cwd=INFRA / "grafana", capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert json.loads(generated.stdout) == board, "run `python infra/grafana/make_dashboard.py`"


def test_the_observability_profile_follows_the_compose_specification_and_uses_these_files() -> None:
    path = INFRA / "compose.observability.yml"
    command = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    services = load(path)["services"]
    for name in ("prometheus", "grafana", "otel-collector"):
        assert services[name]["profiles"] == ["observability"]
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert not source.startswith("./") or (ROOT / source).exists(), volume
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{port}: published on the host's loopback only"
    main = load(ROOT / "docker-compose.yml")["services"]
    traced = [
        name
        for name, service in services.items()
        if "OTEL_EXPORTER_OTLP_ENDPOINT" in service.get("environment", {})
    ]
    assert sorted(traced) == sorted(n for n in main if not n.startswith(("fake-", "redis")) and n != "cli")
    assert (
        services["backoffice-api"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
        == "http://otel-collector:4317"
    )


def test_the_collector_pipeline_uses_only_what_it_defines() -> None:
    config = load(INFRA / "otel-collector/config.yaml")
    pipeline = config["service"]["pipelines"]["traces"]
    for kind in ("receivers", "processors", "exporters"):
        assert set(pipeline[kind]) <= set(config[kind]), kind
    assert set(config["receivers"]["otlp"]["protocols"]) == {"grpc", "http"}
    assert pipeline["processors"][0] == "memory_limiter", (
        "memory_limiter comes first (the collector's advice)"
    )


def test_redis_production_config_persists_and_never_evicts() -> None:
    settings = dict(
        line.split(None, 1)
        for line in (INFRA / "redis/redis.conf").read_text().splitlines()
        if line and line[0] != "#"
    )
    assert settings["appendonly"] == "yes" and settings["appendfsync"] == "everysec"
    assert settings["maxmemory-policy"] == "noeviction" and settings["maxmemory"]
    assert "user default off" in (INFRA / "redis/users.acl.template").read_text()


# --- helpers -------------------------------------------------------------------------------------------------


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def alerts() -> list[dict[str, Any]]:
    return [rule for group in load(PROMETHEUS / "alerts.yml")["groups"] for rule in group["rules"]]


def dashboard_queries() -> list[tuple[str, str]]:
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [(p["title"], t["expr"]) for p in board["panels"] for t in p.get("targets", [])]


def code_metrics() -> set[str]:
    """Every metric name a Counter, Gauge or Histogram in libs/ or services/ declares, with the series a
    histogram adds."""
    declared = re.compile(r"\b(Counter|Gauge|Histogram|Summary)\(\s*\"([a-zA-Z_:][a-zA-Z0-9_:]*)\"")
    names: set[str] = set()
    for path in [*ROOT.glob("libs/*/src/**/*.py"), *ROOT.glob("services/*/src/**/*.py")]:
        for kind, name in declared.findall(path.read_text(encoding="utf-8")):
            names.add(name)
            if kind == "Histogram":
                names |= {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    return names


def series(expr: str) -> set[str]:
    """The metric names in a PromQL expression (labels, strings, ranges and function names taken out)."""
    stripped = re.sub(r'"[^"]*"', "", expr)
    stripped = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", stripped)
    stripped = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", stripped)
    tokens = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", stripped))
    return {t for t in tokens if t not in PROMQL_WORDS and "_" in t}


def anchor(heading: str) -> str:
    return re.sub(r"[^a-z0-9 -]", "", heading.strip().lower()).replace(" ", "-")


def test_series_extraction_reads_names_not_labels() -> None:
    expr = 'sum by (le, group) (rate(eventbus_handle_seconds_bucket{group="a_b"}[5m])) / foo_total > 0.5'
    assert series(expr) == {"eventbus_handle_seconds_bucket", "foo_total"}
