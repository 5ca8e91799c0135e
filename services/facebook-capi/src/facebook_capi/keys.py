"""Every Redis key of facebook-capi, named here and nowhere else.

Redis Cluster runs a script or a MULTI/EXEC only when all its keys hash to one slot. The one script (the
claim of ``servicekit.outcomes``) touches one event's record alone, tagged ``{<pixel_id>:<event_id>}`` so that
events spread over the shards. The other keys are only ever touched by single-key commands (a transaction on
one key, for the dry-run log)::

    wb:svc:facebook-capi:{<pixel_id>:<event_id>}:sent       string: the event's outcome record (ledger.py):
                                                            claimed, sent (Meta accounted for it) or unknown
    wb:svc:facebook-capi:outcomes:unknown                   hash: unknown outcomes awaiting an operator
    wb:svc:facebook-capi:lead:<company_id>:<lead_id>        string: a lead's hashed identifiers (leads.py)
    wb:svc:facebook-capi:company:<company_id>               string: the company's CAPI config (companies.py)
    wb:svc:facebook-capi:stats:<company_id>                 hash: counts per outcome (stats.py)
    wb:svc:facebook-capi:dry_run                            list: requests dry-run mode recorded (delivery.py)
"""

from __future__ import annotations

from dataclasses import dataclass

from eventbus import Keys

from facebook_capi import SERVICE


@dataclass(frozen=True)
class ServiceKeys:
    bus: Keys

    def _key(self, *parts: str) -> str:
        return self.bus.service(SERVICE, *parts)

    def _event(self, pixel_id: str, event_id: str) -> str:
        # Whatever the event id holds, the two keys of an event are equal up to the first closing brace, so
        # their tags (hence slots) are equal; a pixel id is ``[A-Za-z0-9_.-]+`` (companies.py), so the tag is
        # never empty (an empty one would hash the whole key).
        return f"{{{pixel_id}:{event_id}}}"

    def sent(self, pixel_id: str, event_id: str) -> str:
        return self._key(self._event(pixel_id, event_id), "sent")

    def unknown_outcomes(self) -> str:
        return self._key("outcomes", "unknown")

    def lead(self, company_id: str, lead_id: str) -> str:
        # The company is part of the key: a lead id from another tenant can never match.
        return self._key("lead", company_id, lead_id)

    def company(self, company_id: str) -> str:
        return self._key("company", company_id)

    def stats(self, company_id: str) -> str:
        return self._key("stats", company_id)

    def dry_run(self) -> str:
        return self._key("dry_run")
