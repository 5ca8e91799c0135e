"""Numbers as Brazilians write them: ``cento e vinte``, ``15.000``, ``1,5``, ``15k``, ``15 mil``.

``spell_out`` rewrites number words in a normalized message as digits, so that the slot rules only ever match
digits: ``uns oitenta convidados`` → ``uns 80 convidados``, ``quinze mil`` → ``15 mil`` (the ``mil`` kept:
it is what tells money from a head count), ``dois mil e quinhentos`` → ``2500``.
"""

from __future__ import annotations

import re

UNITS: dict[str, int] = {
    "zero": 0, "um": 1, "uma": 1, "dois": 2, "duas": 2, "tres": 3, "quatro": 4, "cinco": 5, "seis": 6,
    "sete": 7, "oito": 8, "nove": 9, "dez": 10, "onze": 11, "doze": 12, "treze": 13, "catorze": 14,
    "quatorze": 14, "quinze": 15, "dezesseis": 16, "dezasseis": 16, "dezessete": 17, "dezoito": 18,
    "dezenove": 19,
}  # fmt: skip
TENS: dict[str, int] = {
    "vinte": 20, "trinta": 30, "quarenta": 40, "cinquenta": 50, "cincoenta": 50, "sessenta": 60,
    "setenta": 70, "oitenta": 80, "noventa": 90,
}  # fmt: skip
HUNDREDS: dict[str, int] = {
    "cem": 100, "cento": 100, "duzentos": 200, "duzentas": 200, "trezentos": 300, "trezentas": 300,
    "quatrocentos": 400, "quatrocentas": 400, "quinhentos": 500, "quinhentas": 500, "seiscentos": 600,
    "seiscentas": 600, "setecentos": 700, "setecentas": 700, "oitocentos": 800, "oitocentas": 800,
    "novecentos": 900, "novecentas": 900,
}  # fmt: skip
_WORDS = UNITS | TENS | HUNDREDS
# "um"/"uma" are articles far more often than numbers ("um casamento"): only "um mil"/"uma mil" count.
_ARTICLES = frozenset({"um", "uma"})
_WORD = re.compile(r"[a-z]+")


def spell_out(text: str) -> str:
    """``text`` with every run of number words replaced by its value in digits (see the module docstring)."""
    words = list(_WORD.finditer(text))
    out: list[str] = []
    last = 0
    i = 0
    while i < len(words):
        end = _run(text, words, i)
        if end == i:
            i += 1
            continue
        out.append(text[last : words[i].start()])
        out.append(_value([w.group(0) for w in words[i:end] if w.group(0) != "e"]))
        last = words[end - 1].end()
        i = end
    out.append(text[last:])
    return "".join(out)


def _run(text: str, words: list[re.Match[str]], start: int) -> int:
    """End (exclusive) of the number-word run starting at ``words[start]``; ``start`` when there is none."""
    end = start
    i = start
    while i < len(words):
        word = words[i].group(0)
        if i > start and text[words[i - 1].end() : words[i].start()].strip():
            break  # punctuation between two words ends the run: "cem, duzentos" are two numbers
        nxt = words[i + 1].group(0) if i + 1 < len(words) else ""
        if word in _WORDS or word == "mil":
            if word in _ARTICLES and nxt != "mil" and not _after_and_tens(words, i, start):
                break  # "um casamento"; but "vinte e um" is 21
            if word == "mil" and i == start and _after_digit(text, words[i].start()):
                break  # "15 mil", "1,5 mil": digits already, the multiplier stays for the money rules
            i += 1
            end = i
        elif word == "e" and end > start and _joins(words[i - 1].group(0), nxt):
            i += 1  # "cento e vinte", "mil e quinhentos"; not "dez e doze", which are two numbers
        else:
            break
    return end


def _after_and_tens(words: list[re.Match[str]], i: int, start: int) -> bool:
    """Is ``words[i]`` the "um" of "vinte e um", "cento e um" (a number word, "e", then it, in the run)?"""
    return i - 2 >= start and words[i - 1].group(0) == "e" and words[i - 2].group(0) in TENS | HUNDREDS


def _after_digit(text: str, at: int) -> bool:
    """Is ``text[at]`` preceded by a digit, spaces aside? Walked back over the spaces only: a regex search of
    the whole prefix for each "mil" was quadratic in a message of many."""
    at -= 1
    while at >= 0 and text[at].isspace():
        at -= 1
    return at >= 0 and text[at].isdigit()


def _joins(before: str, after: str) -> bool:
    if after not in _WORDS:
        return False
    if before == "mil":
        return True
    if before in HUNDREDS:
        return after in TENS or after in UNITS
    return before in TENS and after in UNITS and UNITS[after] < 10


def _value(words: list[str]) -> str:
    total, current, thousands = 0, 0, False
    for word in words:
        if word == "mil":
            total += (current or 1) * 1000
            current, thousands = 0, True
        else:
            current += _WORDS[word]
    if thousands and current == 0:
        return f"{total // 1000} mil"
    return str(total + current)


_AMOUNT = re.compile(r"^\d{1,3}(?:\.\d{3})+(?:,\d+)?$|^\d{1,3}(?:,\d{3})+$")


def parse_amount(text: str) -> float | None:
    """``15.000`` → 15000, ``15.000,50`` → 15000.5, ``1,5`` → 1.5, ``10.5`` → 10.5, ``15,000`` → 15000."""
    text = text.strip()
    if not text or not text[0].isdigit():
        return None
    if _AMOUNT.match(text):
        if "." in text:  # Brazilian: dots group thousands, a comma starts the decimals
            whole, _, decimals = text.partition(",")
            return float(whole.replace(".", "") + ("." + decimals if decimals else ""))
        return float(text.replace(",", ""))  # "15,000": a comma grouping thousands, English style
    try:
        return float(text.replace(",", "."))
    except ValueError:
        return None


def scale(value: float, multiplier: str | None) -> float:
    """Apply a spoken multiplier: ``mil`` and ``k`` are thousands, ``milhao``/``milhoes`` millions."""
    if multiplier in {"mil", "k"}:
        return value * 1000
    if multiplier in {"milhao", "milhoes", "mi"}:
        return value * 1_000_000
    return value
