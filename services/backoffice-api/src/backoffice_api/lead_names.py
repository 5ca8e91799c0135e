"""Finding a lead by the name its contact gave WhatsApp (``message.received.contact_name``).

One sorted set per company (``Keyspace.lead_names``), every member at score 0 so that Redis orders them by
bytes: ``<word>\\x1f<contact id>\\x1f<name as written>``, one member per word of the name, the words folded
(lower case, accents dropped). A prefix of a word is then one ``ZRANGEBYLEX`` whatever the number of leads:
"mar" finds "Maria Souza" and "Márcia". A query of several words looks up its longest and keeps the names
holding a word that starts with each of the others. A contact that changes its name stays findable by both.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from backoffice_api.keyspace import Keyspace

SEP = "\x1f"
#: Words of one name indexed, and their length: a contact name is the contact's to write, so bounded.
MAX_WORDS, MAX_WORD, MAX_NAME = 6, 40, 100
#: Members read for one query before filtering (the answer is at most ``limit`` leads of them).
SCAN = 200


def words(text: str) -> list[str]:
    """The folded words of ``text``: "Márcia  Souza-Lima" → ["marcia", "souza", "lima"]."""
    plain = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return [w[:MAX_WORD] for w in re.findall(r"[^\W_]+", plain)]


def index_ops(ks: Keyspace, company: str, contact_id: str, name: str) -> list[list[Any]]:
    """The projection ops that file ``name`` under each of its words (``zadd`` is idempotent on replay)."""
    shown = name.strip()[:MAX_NAME]
    key = ks.lead_names(company)
    folded = list(dict.fromkeys(words(shown)))[:MAX_WORDS]
    return [["zadd", key, 0, f"{w}{SEP}{contact_id}{SEP}{shown}"] for w in folded]


def matches(members: list[str], query: list[str]) -> dict[str, str]:
    """Contact id → name, for the members whose name has a word starting with every word of the query."""
    found: dict[str, str] = {}
    for member in members:
        _, contact, shown = member.split(SEP, 2)
        mine = words(shown)
        if contact not in found and all(any(w.startswith(q) for w in mine) for q in query):
            found[contact] = shown
    return found


async def search(redis: Any, ks: Keyspace, company: str, query: str, *, limit: int) -> dict[str, str]:
    """Up to ``limit`` contacts (contact id → name) whose name matches ``query``, in name order."""
    wanted = words(query)[:MAX_WORDS]
    if not wanted:
        return {}
    longest = max(wanted, key=len)
    members = await redis.zrangebylex(
        ks.lead_names(company), f"[{longest}", f"({longest}\xff", start=0, num=SCAN
    )
    found = matches([m.decode() if isinstance(m, bytes) else m for m in members], wanted)
    return dict(sorted(found.items(), key=lambda item: (words(item[1]), item[0]))[:limit])
