from datetime import timedelta

import pytest
from servicekit.settings import ServiceSettings


def test_bus_settings_come_from_the_shared_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis+cluster://10.0.0.11:6379")
    monkeypatch.setenv("BUS_PREFIX", "acme")
    monkeypatch.setenv("BUS_ACK_REPLICAS", "1")
    monkeypatch.setenv("BUS_ACK_FSYNC", "true")
    monkeypatch.setenv("BUS_ACK_TIMEOUT_MS", "250")
    settings = ServiceSettings()
    bus = settings.bus_settings()
    assert settings.redis_url == "redis+cluster://10.0.0.11:6379"
    assert (bus.prefix, bus.ack_replicas, bus.ack_fsync, bus.ack_timeout) == (
        "acme",
        1,
        True,
        timedelta(milliseconds=250),
    )


def test_by_default_the_primary_s_word_is_enough() -> None:
    bus = ServiceSettings().bus_settings()
    assert (bus.ack_replicas, bus.ack_fsync) == (0, False)


def test_a_negative_replica_count_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUS_ACK_REPLICAS", "-1")
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        ServiceSettings()
