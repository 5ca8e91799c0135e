"""A company's business hours: when its team answers, read in the company's time zone, and said in Portuguese
("segunda a sexta, das 9h às 18h; sábado, das 9h às 13h")."""

from __future__ import annotations

import datetime as dt

from servicekit.agent_settings import AgentOpeningHours as OpeningHours
from servicekit.agent_settings import Day

DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NAMES = ("segunda", "terça", "quarta", "quinta", "sexta", "sábado", "domingo")


def is_open(hours: tuple[OpeningHours, ...], now: dt.datetime) -> bool:
    """Whether ``now`` (the company's local time) falls in one of ``hours``; no hours set means always."""
    if not hours:
        return True
    day, moment = DAYS[now.weekday()], now.time().replace(tzinfo=None)
    return any(day in h.days and h.opens <= moment < h.closes for h in hours)


def describe(hours: tuple[OpeningHours, ...]) -> str | None:
    """``segunda a sexta, das 9h às 18h``; None without hours."""
    parts = [f"{_days(h.days)}, das {_time(h.opens)} às {_time(h.closes)}" for h in hours]
    return "; ".join(parts) or None


def _days(days: tuple[Day, ...]) -> str:
    index = sorted(DAYS.index(d) for d in days)
    if len(index) > 2 and index == list(range(index[0], index[-1] + 1)):
        return f"{_NAMES[index[0]]} a {_NAMES[index[-1]]}"
    names = [_NAMES[i] for i in index]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " e " + names[-1]


def _time(value: dt.time) -> str:
    return f"{value.hour}h" + (f"{value.minute:02d}" if value.minute else "")
