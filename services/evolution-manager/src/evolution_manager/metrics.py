"""Prometheus metrics of the service, on the default registry (servicekit's ``/metrics`` shows them)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

WEBHOOKS = Counter(
    "evolution_webhooks_total",
    "Evolution webhooks answered, by event and outcome (published, duplicate, skipped_<reason>, ignored, "
    "unchanged, unauthorized, unknown_instance, invalid, unavailable)",
    ["event", "outcome"],
)
REPLIES = Counter(
    "evolution_reply_messages_total",
    "Elements of message.sent, by outcome (sent, already_sent, uncertain_skipped, failed)",
    ["outcome"],
)
STATUS_CHANGES = Counter(
    "evolution_instance_status_published_total", "instance.status events published", ["status", "source"]
)
CIRCUIT_OPEN = Gauge("evolution_circuit_open", "1 while an instance's circuit breaker is open", ["instance"])
