"""Pure: the names a lead is found by, folded for search, and the name index's members.

A lead has two kinds of name: the WhatsApp display name its contact writes under (``message.received``'s
``contact_name``, filed under the contact id, since the message may arrive before its lead) and the name the
agent learned in the conversation (``lead.qualified``'s ``lead_name``, filed under the lead). Both go into one
lexicographic index per company (``Keyspace.lead_names``), one member per word suffix of the folded name, so
that ``souza`` and ``maria s`` both find "Maria Souza" with a single ``ZRANGE BYLEX`` prefix range: the cost of
a search is its page size, never the number of leads.

A contact who changes its display name keeps its old members: a lead is found by every name it went by.
"""

from __future__ import annotations

import re
import unicodedata

#: How much of a name is indexed: a display name is at most 256 characters, and words past the eighth add
#: members without helping anyone find a person.
MAX_WORDS = 8
MAX_WORD = 40
#: A query's bounds (characters, after folding).
QUERY_MIN = 2
QUERY_MAX = 64
#: Between the folded name and what it names (``lead_…`` or a contact ``wa:…``); folding never yields a tab.
SEPARATOR = "\t"

_NOT_WORD = re.compile(r"[^0-9a-z]+")


def fold(text: str) -> str:
    """``"  MARÍA  d'Ávila "`` → ``"maria d avila"``: accents dropped, case folded, anything but letters and
    digits a single space, so that a query matches however the contact typed its name."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " ".join(_NOT_WORD.sub(" ", plain).split())


def members(name: str | None, ref: str) -> list[str]:
    """The index members for ``name`` of ``ref``: every word suffix (``maria souza``, ``souza``)."""
    words = [w[:MAX_WORD] for w in fold(name or "").split()[:MAX_WORDS]]
    found = dict.fromkeys(" ".join(words[i:]) + SEPARATOR + ref for i in range(len(words)))
    return list(found)


def split(member: str) -> tuple[str, str]:
    """An index member → (the folded name it matched, the lead or contact id it names)."""
    name, _, ref = member.rpartition(SEPARATOR)
    return name, ref
