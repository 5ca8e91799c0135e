"""``--since 10m``: a moment given as an age (``30s``, ``10m``, ``1h30m``, ``2d``) or an ISO 8601 time."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from wolfgang.console import CliError

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_AGE = re.compile(r"^(?:\d+[smhdw])+$")
_PART = re.compile(r"(\d+)([smhdw])")


def parse_age(text: str) -> timedelta:
    cleaned = text.strip().lower()
    if not _AGE.match(cleaned):
        raise CliError(f"invalid duration {text!r}: use e.g. 30s, 10m, 1h30m, 2d")
    total = timedelta()
    for amount, unit in _PART.findall(cleaned):
        total += timedelta(**{_UNITS[unit]: int(amount)})
    return total


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """The moment ``text`` names, in UTC."""
    now = now or datetime.now(UTC)
    if _AGE.match(text.strip().lower()):
        return now - parse_age(text)
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CliError(f"invalid --since {text!r}: use an age (10m, 1h, 2d) or an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def stream_id(moment: datetime) -> str:
    """The smallest Redis stream id at or after ``moment`` (stream ids start with a millisecond clock)."""
    return f"{max(0, int(moment.timestamp() * 1000))}-0"
