"""The lead's first name: from what they wrote ("aqui é a Juliana", "meu nome é Ana"), else from their WhatsApp
profile (``raw.push_name``), only when it looks like a name. Used to address the lead, never logged. Only an
introduction counts: "oi, a Maria indicou vocês" names someone else."""

from __future__ import annotations

import re

from agent_runtime.vocabulary import CITY_INDEX, fold

_IS = r"(?:e|é|eh)"
_SAID = re.compile(
    rf"\b(?:aqui {_IS} (?:a |o )?|aqui quem fala {_IS} (?:a |o )?|meu nome {_IS} |me chamo |eu sou (?:a |o )"
    rf"|sou (?:a |o )|quem fala {_IS} (?:a |o )?)([^\W\d_]{{2,20}})\b",
    re.IGNORECASE,
)
_NAME = re.compile(r"^[^\W\d_]{2,20}$")
#: Words that follow "sou a…", "aqui é o…" without being a name.
_NOT_NAMES = frozenset(
    {
        "noiva", "noivo", "mae", "pai", "responsavel", "dona", "dono", "organizadora", "organizador", "cerimonialista",
        "secretaria", "assessora", "assessor", "gerente", "empresa", "familia", "tia", "tio", "avo", "madrinha",
        "padrinho", "mesma", "mesmo", "pessoa", "cliente", "interessada", "interessado", "aniversariante", "festa",
    }
)  # fmt: skip


def said(text: str) -> str | None:
    """The name a message introduces the lead by, as written (capitalized); None when it names none."""
    m = _SAID.search(text[:300])
    if m is None:
        return None
    word = m.group(1)
    if not word[:1].isupper() and not text.islower():
        return (
            None  # "sou a favor…": a name is written with a capital, unless the whole message is lower case
        )
    return _clean(word)


def from_profile(push_name: object) -> str | None:
    """The first word of a WhatsApp profile name, if it looks like a first name ("Ju 💕" → "Ju" is too short)."""
    if not isinstance(push_name, str):
        return None
    words = push_name[:80].split()
    return _clean(words[0]) if words else None


def _clean(word: str) -> str | None:
    folded = fold(word)
    if not _NAME.match(word) or folded in _NOT_NAMES or folded in CITY_INDEX or len(folded) < 3:
        return None
    return word[:1].upper() + word[1:].lower()
