"""A person writing to a lead from the business's phone (``message.received`` with ``from_me``).

The agent never answers such a message (it is not the lead's) and, unless the company turned it off, takes it
as a person taking the conversation over: the lead is handed off, as ``PUT /v1/leads/{id}/handoff`` would,
with reason ``human_replied_from_phone``. An active handoff is left as it is (its reason and time stay).

The switch is one boolean of the company's agent settings, ``handoff_on_human_reply``, **default on**: one
field of the hash ``wb:svc:agent-runtime:company-settings:<company_id>`` (absent or ``"1"``: on, ``"0"``:
off), where the per-company agent settings live; their API exposes it. Read once per batch for the companies
whose people wrote, so a change takes effect on the next message without a restart.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from eventbus import Client, Envelope, Keys, MessageReceived

from agent_runtime import SERVICE
from agent_runtime.conversation import Conversation
from agent_runtime.leads import Lead
from agent_runtime.store import Answer, Commit, Handoff

FIELD = "handoff_on_human_reply"
DEFAULT = True
REASON = "human_replied_from_phone"


def settings_key(keys: Keys, company_id: str) -> str:
    return keys.service(SERVICE, "company-settings", company_id)


async def set_handoff_on_human_reply(redis: Client, keys: Keys, company_id: str, *, enabled: bool) -> None:
    await redis.hset(settings_key(keys, company_id), FIELD, "1" if enabled else "0")


async def handoff_on_human_reply(redis: Client, keys: Keys, companies: Iterable[str]) -> dict[str, bool]:
    """Each company's switch (its own key each: no multi-key command, so it works on a cluster)."""
    found: dict[str, bool] = {}
    for company_id in set(companies):
        value = await redis.hget(settings_key(keys, company_id), FIELD)
        found[company_id] = DEFAULT if value is None else value in (b"1", "1")
    return found


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
