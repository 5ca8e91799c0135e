"""Event dates in Brazilian Portuguese, resolved against "today" in the company's time zone.

Understood: ``12/03``, ``12/03/2026``, ``12-3-26``, ``12 de março``, ``1º de maio``, ``dia 5``, ``hoje``,
``amanhã``, ``depois de amanhã``, ``sábado``, ``sábado que vem``, ``próximo sábado``, ``sábado da semana que
vem``, ``daqui a 3 semanas``, ``em 10 dias``, and a month alone (``em março``: the day is asked next).

An event is never in the past: a day and month without a year that already went by this year mean next
year, ``dia 5`` after the 5th means next month; a date with an explicit year in the past is refused
(``past``), so that the agent can say so instead of booking it. Weekdays mean the next one strictly after
today ("sábado" said on a Saturday is next week's), and ``da semana que vem`` the one in next calendar week.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

from agent_runtime.vocabulary import GUEST_NOUNS, MONTHS, WEEKDAYS

_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
_WEEKDAY = "|".join(WEEKDAYS)


@dataclass(frozen=True)
class DateFound:
    """What a message says about the date: a day (``value``), only a month, or a date already gone."""

    start: int
    end: int
    value: date | None = None
    month: tuple[int, int] | None = None  # (year, month) when only the month was given
    past: bool = False


_DAY_MONTH_NAME = re.compile(
    rf"\b(?:dia\s+)?(\d{{1,2}})\s*(?:o|a)?\s*(?:de\s+)?({_MONTH})\b(?:\s+(?:de\s+)?(\d{{4}}))?"
)
# "10.5 mil", "10-12 pessoas" and "r$ 10.5" are amounts and ranges, not days.
_NUMERIC = re.compile(
    r"(?<![\d$.,])(?<!\$ )(\d{1,2})\s?[/.-]\s?(\d{1,2})(?:[/.-](\d{4}|\d{2}))?(?![\d.,]*\d)"
    rf"(?!\s*(?:mil\b|k\b|reais|{'|'.join(GUEST_NOUNS)}))"
)
_RELATIVE_DAY = re.compile(r"\b(depois de amanha|amanha|hoje)\b")
_IN_N = re.compile(r"\b(?:daqui a|daqui|em|dentro de)\s+(\d{1,3})\s+(dias?|semanas?|mes|meses)\b")
_WEEKDAY_RE = re.compile(
    rf"\b(?:(proxim[oa]|esse|este|nesse|neste|no|na|num|numa)\s+)?({_WEEKDAY})(?:[\s-]*feira)?"
    r"(?:\s+(da semana que vem|da proxima semana|da outra semana|que vem|proximo|proxima))?\b"
)
_DAY_ONLY = re.compile(r"\bdia\s+(\d{1,2})\b(?!\s*[/.-]\s*\d)")
_MONTH_ONLY = re.compile(rf"\b(?:mes de\s+)?({_MONTH})\b(?:\s+(?:de\s+)?(\d{{4}}))?")
_BARE_DAY = re.compile(r"^\s*(?:dia\s+)?(\d{1,2})\s*$")


def find_date(text: str, today: date, *, month_hint: tuple[int, int] | None = None) -> DateFound | None:
    """The first date ``text`` (normalized, numbers spelled out) names, resolved against ``today``.

    ``month_hint`` is a month the lead gave earlier without a day: ``dia 12`` then means the 12th of it.
    """
    if m := _DAY_MONTH_NAME.search(text):
        return _resolve(m, today, int(m.group(1)), MONTHS[m.group(2)], m.group(3))
    for m in _NUMERIC.finditer(text):
        day, month = int(m.group(1)), int(m.group(2))
        if 1 <= day <= 31 and 1 <= month <= 12:
            return _resolve(m, today, day, month, m.group(3))
    if m := _RELATIVE_DAY.search(text):
        offset = {"hoje": 0, "amanha": 1, "depois de amanha": 2}[m.group(1)]
        return DateFound(m.start(), m.end(), value=today + timedelta(days=offset))
    if m := _IN_N.search(text):
        n, unit = int(m.group(1)), m.group(2)
        if unit.startswith("dia"):
            value = today + timedelta(days=n)
        elif unit.startswith("semana"):
            value = today + timedelta(weeks=n)
        else:
            value = _add_months(today, n)
        return DateFound(m.start(), m.end(), value=value)
    if m := _WEEKDAY_RE.search(text):
        weekday = WEEKDAYS[m.group(2)]
        ahead = (weekday - today.weekday()) % 7 or 7
        value = today + timedelta(days=ahead)
        if m.group(3) in {"da semana que vem", "da proxima semana", "da outra semana"}:
            next_monday = today + timedelta(days=7 - today.weekday())
            value = next_monday + timedelta(days=weekday)
        return DateFound(m.start(), m.end(), value=value)
    if m := _DAY_ONLY.search(text):
        return _day_of_month(m, today, int(m.group(1)), month_hint)
    if m := _MONTH_ONLY.search(text):
        month = MONTHS[m.group(1)]
        if m.group(2):
            year = int(m.group(2))
            if (year, month) < (today.year, today.month):
                return DateFound(m.start(), m.end(), past=True)
        else:
            year = today.year if month >= today.month else today.year + 1
        return DateFound(m.start(), m.end(), month=(year, month))
    if month_hint is not None and (m := _BARE_DAY.match(text)):
        return _day_of_month(m, today, int(m.group(1)), month_hint)
    return None


def _resolve(m: re.Match[str], today: date, day: int, month: int, year_text: str | None) -> DateFound | None:
    if year_text:
        year = int(year_text) + (2000 if len(year_text) == 2 else 0)
        value = _valid(year, month, day)
        if value is None:
            return None
        if value < today:
            return DateFound(m.start(), m.end(), past=True)
        return DateFound(m.start(), m.end(), value=value)
    for year in (today.year, today.year + 1, today.year + 2, today.year + 3, today.year + 4):
        value = _valid(year, month, day)  # 29/02 waits for a leap year
        if value is not None and value >= today:
            return DateFound(m.start(), m.end(), value=value)
    return None


def _day_of_month(
    m: re.Match[str], today: date, day: int, month_hint: tuple[int, int] | None
) -> DateFound | None:
    if not 1 <= day <= 31:
        return None
    if month_hint is not None:
        value = _valid(*month_hint, day)
        if value is not None and value >= today:
            return DateFound(m.start(), m.end(), value=value)
    year, month = today.year, today.month
    for _ in range(13):  # the next month that has this day and where it is still ahead
        value = _valid(year, month, day)
        if value is not None and value >= today:
            return DateFound(m.start(), m.end(), value=value)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None


def _valid(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _add_months(value: date, months: int) -> date:
    month_index = value.month - 1 + months
    year, month = value.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(value.day, calendar.monthrange(year, month)[1]))
