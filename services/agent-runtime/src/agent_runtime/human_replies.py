"""A person writing to a lead from the business's phone (``message.received`` with ``from_me``).

The agent never answers such a message (it is not the lead's) and, unless the company turned it off, takes it
as a person taking the conversation over: the lead is handed off, as ``PUT /v1/leads/{id}/handoff`` would,
with reason ``human_replied_from_phone``. An active handoff is left as it is (its reason and time stay).

The switch is one field of the company's agent settings (``agent_settings.py``), ``handoff_on_human_reply``,
**default on**; the handler reads it from the settings it refreshed for the batch, so a change made through
the settings API takes effect within their cache's TTL, without a restart.
"""

from __future__ import annotations

from datetime import datetime

from eventbus import Envelope, MessageReceived

from agent_runtime.conversation import Conversation
from agent_runtime.leads import Lead
from agent_runtime.store import Answer, Commit, Handoff

REASON = "human_replied_from_phone"


def commit(
    lead: Lead,
    event: Envelope[MessageReceived],
    conversation: Conversation,
    current: Handoff | None,
    *,
    hand_off: bool,
    announced: bool,
    now: datetime,
) -> Commit:
    """The person's message seen, nothing answered, and the lead handed off when it is to be."""
    handoff = None
    if hand_off and not (current is not None and current.active):
        handoff = Handoff(
            lead_id=lead.lead_id,
            company_id=lead.company_id,
            active=True,
            reason=REASON,
            requested_by="phone",
            since=now,
        )
    return Commit(
        lead,
        event.id,
        Answer(events=[]),
        conversation,
        expected_version=conversation.version,
        handoff=handoff,
        announced=announced,
        unless_handed_off=False,
    )
