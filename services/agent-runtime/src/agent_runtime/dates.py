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
import difflib
import re
from dataclasses import dataclass, replace
from datetime import date, timedelta

from agent_runtime.vocabulary import GUEST_NOUNS, MONTH_ABBREVIATIONS, MONTHS, WEEKDAYS

_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
# After a day number only: "6 jun", "17 abr", "1 set" ("set" or "mar" alone are other words).
_MONTH_OR_SHORT = "|".join(sorted({*MONTHS, *MONTH_ABBREVIATIONS}, key=len, reverse=True))
_MONTH_NUMBER = MONTHS | MONTH_ABBREVIATIONS
_WEEKDAY = "|".join(WEEKDAYS)


@dataclass(frozen=True)
class DateFound:
    """What a message says about the date: a day (``value``), only a month, or a date already gone."""

    start: int
    end: int
    value: date | None = None
    month: tuple[int, int] | None = None  # (year, month) when only the month was given
    past: bool = False
    #: Why ``value`` is a guess to ask back rather than record: ``typo`` (a misspelt month, "12 d junho"),
    #: ``weekday`` (the weekday said does not fall on "dia 7": ``value`` is the next 7th on that weekday),
    #: ``weekday_off`` (nor on the day and month said: ``value`` is that date, its own weekday named),
    #: ``past`` (that day already went by this month or year: ``value`` is the next one). None: as said.
    doubt: str | None = None
    #: The date is the weekday's own ("sábado que vem"): nothing to check it against.
    said_weekday: bool = False
    #: "12/03", "12 de março": the month was said, so a weekday that does not match is the lead's slip.
    month_said: bool = False


_DAY_MONTH_NAME = re.compile(
    rf"\b(?:dia\s+)?(\d{{1,2}})\s?(?:o|a)?\s?(?:(de|d|del|do|di)\s)?({_MONTH_OR_SHORT})\b(?:\s(?:de\s)?(\d{{4}}))?"
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
#: A day and month without a year that went by at most this long ago ("10/12" on the 16th) is asked back, not
#: moved to next year: likely a slip. Older ones ("16 de outubro" in December) plainly mean next year.
_RECENT_DAYS = 31
# The day alone, once the month is known: "12", "dia 12", "o dia vai ser 12", "vai ser dia 12".
_BARE_DAY = re.compile(
    r"^\s*(?:(?:o\s+)?dia\s+(?:(?:vai ser|sera|e|seria)\s+)?|(?:vai ser|sera|e) (?:(?:o )?dia )?)?(\d{1,2})\s*[.!]?\s*$"
)


def find_date(text: str, today: date, *, month_hint: tuple[int, int] | None = None) -> DateFound | None:
    """The first date ``text`` (normalized, numbers spelled out) names, resolved against ``today``.

    ``month_hint`` is a month the lead gave earlier without a day: ``dia 12`` then means the 12th of it.
    """
    found = _find(text, today, month_hint)
    if found is None or found.value is None or found.said_weekday:
        return found
    if (w := _WEEKDAY_RE.search(text)) is not None and WEEKDAYS[w.group(2)] != found.value.weekday():
        if found.month_said:
            # "sábado, 20 de novembro" when that is a Friday: the day and month said are likelier right than a
            # year further off where they fall on a Saturday; asked back as said, naming its real weekday.
            return replace(found, doubt="weekday_off")
        # "sábado dia 7" when the 7th is a Wednesday: the next 7th that is a Saturday, asked back.
        value = _next_matching(found.value, WEEKDAYS[w.group(2)], yearly=False)
        return replace(found, value=value, doubt="weekday")
    return found


def _find(text: str, today: date, month_hint: tuple[int, int] | None) -> DateFound | None:
    if m := _DAY_MONTH_NAME.search(text):
        found = _resolve(m, today, int(m.group(1)), _MONTH_NUMBER[m.group(3)], m.group(4))
        if found is not None and m.group(2) not in {None, "de", "do"} and found.doubt is None:
            found = replace(found, doubt="typo")  # "12 d junho": a slip, most likely of "de"; asked back
        return replace(found, month_said=True) if found is not None else None
    if (m := _DAY_OF_WORD.search(text)) and (month := _misspelt_month(m.group(2))) is not None:
        found = _resolve(m, today, int(m.group(1)), month, None)  # "3 de jnho": too short for the typo fixer
        return replace(found, doubt=found.doubt or "typo", month_said=True) if found is not None else None
    for m in _NUMERIC.finditer(text):
        day, month = int(m.group(1)), int(m.group(2))
        if 1 <= day <= 31 and 1 <= month <= 12:
            found = _resolve(m, today, day, month, m.group(3))
            return replace(found, month_said=True) if found is not None else None
    if (m := _DAY_ONLY.search(text)) and _WEEKDAY_RE.search(text):
        return _day_of_month(m, today, int(m.group(1)), month_hint)  # "sábado dia 7": the day, checked above
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
        return DateFound(m.start(), m.end(), value=value, said_weekday=True)
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


_DAY_OF_WORD = re.compile(r"\b(?:dia\s+)?(\d{1,2})\s+(?:de|d)\s+([a-z]{3,10})\b")


def _misspelt_month(word: str) -> int | None:
    """The month a word a letter or two away from a month's name means ("jnho", "mrco"): a guess, asked back."""
    close = difflib.get_close_matches(word, _MONTH_WORDS, n=1, cutoff=0.75)
    return MONTHS[close[0]] if close else None


_MONTH_WORDS = tuple(MONTHS)


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
            # Gone this year, and lately: next year's is a guess (the lead may have slipped). "12/03" said in
            # December is plainly next March.
            this_year = _valid(today.year, month, day)
            recent = this_year is not None and year > today.year and (today - this_year).days <= _RECENT_DAYS
            doubt = "past" if recent else None
            return DateFound(m.start(), m.end(), value=value, doubt=doubt)
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
            doubt = "past" if (year, month) != (today.year, today.month) and day < today.day else None
            return DateFound(m.start(), m.end(), value=value, doubt=doubt)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None


def _next_matching(value: date, weekday: int, *, yearly: bool) -> date | None:
    """The first day from ``value`` on with ``value``'s day of the month (and month, when ``yearly``) falling
    on ``weekday``; None when none does within the years we look at."""
    year, month = value.year, value.month
    for _ in range(28):  # a day of the month meets every weekday within 14 months, a date within 11 years
        candidate = _valid(year, month, value.day)
        if candidate is not None and candidate.weekday() == weekday:
            return candidate
        if yearly:
            year += 1
        else:
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
