from datetime import UTC, datetime, timedelta

import pytest
from wolfgang.console import CliError
from wolfgang.since import parse_age, parse_since, stream_id

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "age"),
    [("30s", timedelta(seconds=30)), ("10m", timedelta(minutes=10)), ("1h30m", timedelta(minutes=90)),
     ("2d", timedelta(days=2)), ("1W", timedelta(weeks=1))],
)  # fmt: skip
def test_ages(text, age):
    assert parse_age(text) == age
    assert parse_since(text, now=NOW) == NOW - age


def test_iso_times_are_taken_as_given_and_naive_ones_as_utc():
    assert parse_since("2026-01-10T09:00:00-03:00") == datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    assert parse_since("2026-01-10T12:00:00") == NOW


@pytest.mark.parametrize("text", ["", "10", "m10", "ten minutes", "1h-5m"])
def test_anything_else_is_a_clear_error(text):
    with pytest.raises(CliError, match="invalid"):
        parse_since(text)


def test_stream_ids_start_at_the_moments_millisecond():
    assert stream_id(NOW) == f"{int(NOW.timestamp() * 1000)}-0"
