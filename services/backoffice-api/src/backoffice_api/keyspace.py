"""Every Redis key backoffice-api owns, built only here, all under ``wb:svc:backoffice-api:``.

Three families, because they live and die differently:

- ``view:{company}:…`` — read models projected from the bus (leads, indexes, timelines, contracts,
  instance statuses, metric buckets, applied-event markers). ``rebuild`` deletes them and replays the streams.
- ``state:{company}:…`` — facts that exist only here (deals created through the API and their indexes, the
  handoff mirror):
  no event carries them, so a rebuild must keep them.
- ``auth:…`` / ``rate:…`` / ``cache:…`` — API keys (by SHA-256), token buckets, short-lived answers.

Redis Cluster: a company's ``view:`` and ``state:`` keys (and its cached reports) share the hash tag
``{company}``, so one projection step — a Lua script touching a lead, its indexes, its timeline, the metric
buckets and the event's applied marker — stays in one slot, as does a page of leads. Every key a script
touches is passed in KEYS (``lua/apply.lua`` refuses any other). The ``auth:`` and ``rate:`` keys are one
per API key or client and hash on their own; no command touches two of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from eventbus import Keys

SERVICE = "backoffice-api"
LEAD_STATUSES = ("new", "qualified", "contract_sent", "won")
LEAD_SOURCES = ("organic", "ads", "referral", "unknown")
_ULID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")
_CROCKFORD = {c: i for i, c in enumerate("0123456789ABCDEFGHJKMNPQRSTVWXYZ")}


def _ulid_ms(ulid: str) -> int:
    """The creation time a ULID carries: its first 10 characters, base 32 (Crockford)."""
    ms = 0
    for char in ulid[:10]:
        ms = ms * 32 + _CROCKFORD[char]
    return ms


@dataclass(frozen=True)
class Keyspace:
    keys: Keys

    def _key(self, *parts: str) -> str:
        return self.keys.service(SERVICE, *parts)

    # -- read models (rebuilt from the bus) ---------------------------------------------------------------

    def views(self) -> str:
        """The glob of every read-model key (used by ``rebuild`` only, never on a request path)."""
        return self._key("view", "*")

    def view(self, company: str) -> str:
        """Prefix of one company's read models; the Lua scripts append ``:lead:…``, ``:leads:…``."""
        return self._key("view", f"{{{company}}}")

    def applied(self, company: str, event_id: str) -> str:
        """String: one event applied (``lua/apply.lua``). Written now only for an event id that is no ULID (its
        time is unknown: a UUID, a test's name); read for every event, so that the markers written before the
        per-minute sets (below) still stop a replay until they expire (8 days after 2026-12-07)."""
        return f"{self.view(company)}:applied:{event_id}"

    def applied_minute(self, company: str, event_id: str) -> tuple[str, str] | None:
        """The set of applied events made in one minute (their ULID's time, so a replay finds the same set),
        and this event's member (its ULID): ~70 B a member where a marker key of its own cost ~150 B. None for
        an id without a ULID."""
        ulid = event_id.removeprefix("evt_")
        if _ULID.fullmatch(ulid) is None:
            return None
        minute = _ulid_ms(ulid) // 60_000
        return f"{self.view(company)}:applied:m{minute}", ulid

    def lead(self, company: str, lead_id: str) -> str:
        return f"{self.view(company)}:lead:{lead_id}"

    def lead_index(self, company: str, status: str | None = None, source: str | None = None) -> str:
        """Lexicographic index of a company's leads (``<created ms, 16 digits>:<lead id>``, all scores 0),
        one per filter combination so that any filter is a single ``ZRANGE BYLEX``."""
        return f"{self.view(company)}:leads:{status or '*'}:{source or '*'}"

    def lead_indexes(self, company: str) -> list[str]:
        """Every lead index of a company: what re-indexing a lead may touch (its old and new status and source
        are only known inside the script), declared to it as KEYS."""
        return [
            self.lead_index(company, status, source)
            for status in (None, *LEAD_STATUSES)
            for source in (None, *LEAD_SOURCES)
        ]

    def lead_by_external(self, company: str) -> str:
        """Hash: contact id (``wa:+55…``) → lead id."""
        return f"{self.view(company)}:lead-ext"

    def lead_names(self, company: str) -> str:
        """Lexicographic index of the names leads are found by (``names.py``: ``<folded name>\\t<lead or
        contact id>``, all scores 0): a name search is one prefix range."""
        return f"{self.view(company)}:lead-names"

    def timeline(self, company: str, *, lead_id: str | None = None, external_id: str | None = None) -> str:
        """Sorted set of timeline entries by time. Messages are filed under the contact, lead events under the
        lead: a lead's timeline is the union of both, so nothing depends on which arrived first."""
        if lead_id is not None:
            return f"{self.view(company)}:timeline:lead:{lead_id}"
        return f"{self.view(company)}:timeline:ext:{external_id}"

    def contract(self, company: str, contract_id: str) -> str:
        return f"{self.view(company)}:contract:{contract_id}"

    def contract_index(self, company: str) -> str:
        return f"{self.view(company)}:contracts"

    def instance_status(self, company: str) -> str:
        """Hash: instance id → JSON of its last status (newest ``occurred_at`` wins)."""
        return f"{self.view(company)}:instance-status"

    def conversions(self, company: str, kind: str, owner_id: str) -> str:
        """Hash: reported event id → the newest outcome facebook-capi reported for it (``conversions.py``);
        ``kind`` is ``lead`` or ``deal``."""
        return f"{self.view(company)}:conversions:{kind}:{owner_id}"

    def bucket(self, company: str, width: str, start_ms: int) -> str:
        return f"{self.view(company)}:metrics:{width}:{start_ms}"

    # -- facts kept across rebuilds -------------------------------------------------------------------------

    def deal(self, company: str, deal_id: str) -> str:
        return self._key("state", f"{{{company}}}", "deal", deal_id)

    def deal_index(self, company: str, stage: str | None = None, owner: str | None = None) -> str:
        """Lexicographic index of a company's deals (``<created ms, 16 digits>:<deal id>``, all scores 0), one
        per stage × owner combination (``*`` for any), so that a stage and an owner filter are one range."""
        return self._key("state", f"{{{company}}}", "deals", stage or "*", owner or "*")

    def deals_of_lead(self, company: str, lead_id: str) -> str:
        """The same members, for one lead's deals (a handful: read whole and filtered)."""
        return self._key("state", f"{{{company}}}", "deals-of-lead", lead_id)

    def lead_owner(self, company: str) -> str:
        """Hash: lead id → the seller who owns the lead (assigned through the API)."""
        return self._key("state", f"{{{company}}}", "lead-owner")

    def lead_notes(self, company: str, lead_id: str) -> str:
        """Sorted set of a lead's notes by time (members: JSON with a ULID, so two notes never collide)."""
        return self._key("state", f"{{{company}}}", "lead-notes", lead_id)

    def contract_cancellations(self, company: str) -> str:
        """Hash: contract id → when an operator's cancel was confirmed by autentique-service (no event carries
        it: the catalog has none, so it must survive a rebuild)."""
        return self._key("state", f"{{{company}}}", "contract-cancelled")

    def handoff(self, company: str) -> str:
        """Hash: lead id → JSON of the handoff flag as agent-runtime last confirmed it."""
        return self._key("state", f"{{{company}}}", "handoff")

    def operator_reply(self, company: str, key_digest: str) -> str:
        """String: the first answer to an operator's reply sent with an ``Idempotency-Key`` (its SHA-256),
        with the request's fingerprint; kept a day (``routes/lead_messages.py``)."""
        return self._key("state", f"{{{company}}}", "operator-reply", key_digest)

    # -- access ---------------------------------------------------------------------------------------------

    def api_key(self, digest: str) -> str:
        return self._key("auth", "key", digest)

    def api_key_id(self, key_id: str) -> str:
        """key id → digest, so that an operator can revoke a key without holding it."""
        return self._key("auth", "id", key_id)

    def key_request(self, fingerprint: str) -> str:
        """An idempotent key creation or rotation (key_admin.py), by a digest of company and Idempotency-Key."""
        return self._key("auth", "request", fingerprint)

    def api_keys(self) -> str:
        return self._key("auth", "ids")

    def rate(self, subject: str) -> str:
        return self._key("rate", subject)

    def cache(self, company: str, name: str) -> str:
        return self._key("cache", f"{{{company}}}", name)
