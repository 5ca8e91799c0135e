"""Writes infra/grafana/dashboards/wolfgang.json: `python infra/grafana/make_dashboard.py`.

The dashboard is generated so that its panels stay uniform (grid, units, datasource); the JSON is committed
and provisioned as is, and tests/infra/test_observability.py checks it against the metric names in the code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "dashboards" / "wolfgang.json"
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}

ROWS: list[tuple[str, list[tuple[str, str, list[tuple[str, str]]]]]] = [
    (
        "Bus",
        [
            (
                "Published / s by type",
                "ops",
                [("sum by (type) (rate(eventbus_published_total[5m]))", "{{type}}")],
            ),
            (
                "Handled / s by group",
                "ops",
                [("sum by (group, type) (rate(eventbus_handled_total[5m]))", "{{group}} {{type}}")],
            ),
            (
                "Lag (not yet delivered)",
                "short",
                [("max by (group, type) (eventbus_group_lag)", "{{group}} {{type}}")],
            ),
            (
                "Pending (delivered, not acknowledged)",
                "short",
                [("max by (group, type) (eventbus_group_pending)", "{{group}} {{type}}")],
            ),
            (
                "Dead letters held",
                "short",
                [("max by (group, type) (eventbus_group_dead_letters)", "{{group}} {{type}}")],
            ),
            (
                "Dead-lettered / s by reason",
                "ops",
                [("sum by (group, reason) (rate(eventbus_dead_lettered_total[5m]))", "{{group}} {{reason}}")],
            ),
            (
                "Retries and failures / s",
                "ops",
                [
                    ("sum by (group) (rate(eventbus_retried_total[5m]))", "retried {{group}}"),
                    ("sum by (group) (rate(eventbus_failed_total[5m]))", "failed {{group}}"),
                ],
            ),
            (
                "Handle time p95",
                "s",
                [
                    (
                        "histogram_quantile(0.95, sum by (le, group) (rate(eventbus_handle_seconds_bucket[5m])))",
                        "{{group}}",
                    )
                ],
            ),
        ],
    ),
    (
        "Services (HTTP)",
        [
            (
                "Requests / s by route",
                "reqps",
                [("sum by (service, route) (rate(http_server_requests_total[5m]))", "{{service}} {{route}}")],
            ),
            (
                "5xx ratio by route",
                "percentunit",
                [
                    (
                        'sum by (service, route) (rate(http_server_requests_total{status=~"5.."}[5m]))'
                        " / sum by (service, route) (rate(http_server_requests_total[5m]))",
                        "{{service}} {{route}}",
                    )
                ],
            ),
            (
                "Duration p95 by route",
                "s",
                [
                    (
                        "histogram_quantile(0.95, sum by (le, service, route)"
                        " (rate(http_server_request_duration_seconds_bucket[5m])))",
                        "{{service}} {{route}}",
                    )
                ],
            ),
            (
                "Webhooks answered 503",
                "short",
                [
                    (
                        'sum by (service, route) (increase(http_server_requests_total{route=~"/webhooks/.*",'
                        ' status="503"}[5m]))',
                        "{{service}} {{route}}",
                    )
                ],
            ),
        ],
    ),
    (
        "Upstreams",
        [
            (
                "Evolution webhooks / s by outcome",
                "ops",
                [("sum by (outcome) (rate(evolution_webhooks_total[5m]))", "{{outcome}}")],
            ),
            (
                "Evolution replies / s by outcome",
                "ops",
                [("sum by (outcome) (rate(evolution_reply_messages_total[5m]))", "{{outcome}}")],
            ),
            (
                "Evolution circuits open",
                "short",
                [("max by (instance) (evolution_circuit_open)", "{{instance}}")],
            ),
            (
                "Meta CAPI requests / s by result",
                "ops",
                [("sum by (result) (rate(capi_requests_total[5m]))", "{{result}}")],
            ),
            (
                "Autentique webhooks / s by outcome",
                "ops",
                [("sum by (outcome) (rate(autentique_webhooks_total[5m]))", "{{outcome}}")],
            ),
        ],
    ),
    (
        "Redis",
        [
            (
                "Memory used / maxmemory",
                "bytes",
                [
                    ("redis_memory_used_bytes", "used {{instance}}"),
                    ("redis_memory_max_bytes", "max {{instance}}"),
                ],
            ),
            ("Connected clients", "short", [("redis_connected_clients", "{{instance}}")]),
        ],
    ),
]


def dashboard() -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    y, next_id = 0, 1
    for title, graphs in ROWS:
        panels.append(
            {
                "id": next_id,
                "type": "row",
                "title": title,
                "collapsed": False,
                "panels": [],
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
            }
        )
        next_id, y = next_id + 1, y + 1
        for index, (name, unit, queries) in enumerate(graphs):
            panels.append(
                {
                    "id": next_id,
                    "type": "timeseries",
                    "title": name,
                    "datasource": DATASOURCE,
                    "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                    "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
                    "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": y + 8 * (index // 2)},
                    "targets": [
                        {
                            "refId": chr(ord("A") + n),
                            "datasource": DATASOURCE,
                            "expr": expr,
                            "legendFormat": legend,
                        }
                        for n, (expr, legend) in enumerate(queries)
                    ],
                }
            )
            next_id += 1
        y += 8 * ((len(graphs) + 1) // 2)
    return {
        "uid": "wolfgang-bus",
        "title": "Wolfgang — bus and services",
        "tags": ["wolfgang"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": []},
        "annotations": {"list": []},
        "panels": panels,
    }


if __name__ == "__main__":
    OUT.write_text(json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")
