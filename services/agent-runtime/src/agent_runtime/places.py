"""Where the event is: a venue ("no salão do condomínio"), a city ("em Campinas", "SP"), or what the lead
says the place is ("o local é a chácara do meu tio"), written back as the lead wrote it."""

from __future__ import annotations

import re

from agent_runtime import topics
from agent_runtime.vocabulary import CITY_INDEX, MONTHS, WEEKDAYS, fold

_VENUE_WORDS = (
    r"salao|espaco|chacara|sitio|buffet|clube|hotel|restaurante|igreja|fazenda|casa de festas?|condominio"
    r"|pousada|praia|sede|escritorio|quinta|galpao|rooftop|terraco|area de lazer|casa d[aoe]s?\s+\w+|minha casa"
)
_VENUE = re.compile(rf"\b(?:no|na|em|num|numa)\s+((?:{_VENUE_WORDS})\b[^,.;!?]*)")
_LOCAL_SAID = re.compile(
    r"\b(?:local|lugar|endereco|cidade)\s*(?:e|:|sera|vai ser|seria|fica|eh)?\s*(?:no|na|em)?\s+([^,.;!?]+)"
)
_IN_PLACE = re.compile(r"\b(?:em|aqui em|la em|cidade de|regiao de)\s+([a-z][a-z ]+)")
_STOP = re.compile(  # the space run taken whole and only from its start: linear on any run of spaces
    r"(?<!\s)\s++(?:para|pra|com|dia|no dia|em|e|mas|que|porque|pois|umas?|uns|cerca|por|de \d|ate|orcamento)\b.*$"
)
_NOT_PLACES = frozenset(MONTHS) | frozenset(WEEKDAYS) | {
    "casa", "breve", "torno", "media", "principio", "geral", "festa", "evento", "aberto", "definir", "duvida",
    "janeiro", "ferias", "junho", "julho", "setembro", "mente", "vista", "cima", "baixo",
}  # fmt: skip
_PARTICLES = frozenset({"de", "do", "da", "dos", "das", "e"})
# Longest names first, so "sao jose dos campos" wins over "campos"; two-letter codes ("sp", "bh") only after a
# preposition or as the whole answer: inside a sentence they are too often something else.
_CITY_NAMES = sorted(CITY_INDEX, key=len, reverse=True)
_SHORT = "|".join(re.escape(n) for n in _CITY_NAMES if len(n) <= 3)
_CITY = re.compile(
    rf"\b(?:em|de|no|na)\s+({_SHORT})\b"
    r"|\b(" + "|".join(re.escape(n) for n in _CITY_NAMES if len(n) > 3) + r")\b"
    rf"|^\s*({_SHORT})(?:\s+(?:capital|mesmo))?[\s.!;]*$"  # the whole answer: "SP", "sp capital"
)


def locate(original: str, t: str, found: dict[str, object], expecting: str | None) -> None:
    """Set ``found["location"]`` from ``t`` (normalized, spans already read blanked) and ``original``."""
    place: str | None = None
    if m := _LOCAL_SAID.search(t):
        place = _trim(m.group(1))
    if place is None and (m := _VENUE.search(t)):
        place = _trim(m.group(1))
    city = city_in(t)
    if place is None and city is None and (m := _IN_PLACE.search(t)):
        candidate = _trim(m.group(1))
        if candidate and _capitalized(original, candidate):
            place = candidate
    if place is None and city is None and expecting == "location" and not found:
        candidate = _trim(re.sub(r"^\s*(?:vai ser |sera |e |fica )?(?:no |na |em |num |numa )?", "", t))
        if (
            candidate
            and len(candidate.split()) <= 5
            and not re.search(r"\d", candidate)
            and not _asks(candidate)
        ):
            place = candidate
    city_name = CITY_INDEX[city] if city else None
    if place and city_name and fold(city_name) not in place:
        found["location"] = f"{_as_written(original, place)}, {city_name}"  # "Chácara do tio, Atibaia"
    elif place:
        found["location"] = CITY_INDEX.get(place) or _as_written(original, place)
    elif city_name:
        found["location"] = city_name


# What a lead asks to be sent, never a place they named: "o link do maps", "a localização do salão".
_ASKED_FOR = re.compile(
    r"\b(?:localizacao|endereco|maps|mapa|link|waze|pin|foto|fotos|video|videos|cardapio|menu|preco|valor|pix)\b"
)


def _asks(candidate: str) -> bool:
    """A bare answer that is a request ("manda a localização") or names what is asked for, not a place."""
    return _ASKED_FOR.search(candidate) is not None or topics.request_at(candidate) is not None


def _as_written(original: str, place: str) -> str:
    """``place`` with the lead's own accents and capitals ("salao estrela" → "Salão Estrela"); title case
    when the lead shouted, a capital first letter when they wrote all in lower case."""
    words = re.findall(r"[^\W_]+", original)
    folded = [fold(w) for w in words]
    wanted = place.split()
    for i in range(len(words) - len(wanted) + 1):
        if folded[i : i + len(wanted)] == wanted:
            text = " ".join(words[i : i + len(wanted)])
            break
    else:
        text = place  # typo-corrected on the way: our spelling, then
    if text.isupper() or text.islower():
        return " ".join(
            w.lower() if w.lower() in _PARTICLES and n else w.capitalize() for n, w in enumerate(text.split())
        ) if text.isupper() else text[:1].upper() + text[1:]  # fmt: skip
    return text[:1].upper() + text[1:]


def _trim(text: str) -> str | None:
    text = _STOP.sub("", text.strip(" ;:")).strip(" ;:")
    words = text.split()
    if len(words) > 1 and words[0] in {"o", "a", "os", "as"}:
        words = words[1:]
    if not words or words[0] in _NOT_PLACES or any(w in _NOT_PLACES for w in words[:1]):
        return None
    if words[0] in {"sim", "nao", "ok", "obrigado", "obrigada", "blz", "beleza", "valeu"}:
        return None
    return " ".join(words[:6])


def city_in(t: str) -> str | None:
    """The first known city ``t`` names (normalized form), if any."""
    m = _CITY.search(t)
    return (m.group(1) or m.group(2) or m.group(3)) if m else None


def _capitalized(original: str, candidate: str) -> bool:
    """Did the lead write the place as a proper noun ("em Campinas"), or shout the whole message?"""
    first = candidate.split()[0]
    letters = [c for c in original if c.isalpha()]
    shouting = bool(letters) and all(c.isupper() for c in letters)
    words = re.findall(r"[^\W\d_]+", original)
    return shouting or any(fold(w) == first and w[:1].isupper() for w in words)
