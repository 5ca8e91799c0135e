"""The Wolfgang event bus: catalog envelopes over durable Redis Streams, side effects once.

async with Bus.from_url(url, source="agent-runtime") as bus:
    await bus.emit(LeadCreated(...), company_id=...)
    async with Consumer(bus, "facebook-capi", {"lead.created": report_lead}).running():
        ...
"""

from eventbus.batch_outcomes import BatchOutcomes
from eventbus.bus import Bus, Published
from eventbus.catalog import CHANNELS, ChannelSpec
from eventbus.client import Client, connect, is_cluster_url, warm
from eventbus.consumer import Backoff, BatchHandler, Consumer, Handler, Subscription
from eventbus.context import add_event_fields, current_event
from eventbus.dlq import DeadLetter, DeadLetters
from eventbus.envelope import Envelope, Payload
from eventbus.errors import (
    BusUnavailable,
    DeadLetterNotFound,
    EventBusError,
    InvalidEvent,
    MalformedEntry,
    Outage,
    PermanentFailure,
    ReplayOutsideWindow,
    UnknownEventType,
    UnsupportedVersion,
    WriteNotAcknowledged,
)
from eventbus.keys import Keys
from eventbus.operations import (
    GroupStats,
    forget_processed,
    group_stats,
    processed_window_start,
    replay_since,
)
from eventbus.payloads import (
    AdReferral,
    ContractCreated,
    ContractSigned,
    ConversionReported,
    InstanceStatus,
    LeadCreated,
    LeadQualified,
    Media,
    MessageReceived,
    MessageSent,
    OutgoingMessage,
    Utm,
)
from eventbus.settings import BusSettings
from eventbus.taps import subscribers, tap

__all__ = [
    "CHANNELS",
    "AdReferral",
    "Backoff",
    "BatchHandler",
    "BatchOutcomes",
    "Bus",
    "BusSettings",
    "BusUnavailable",
    "ChannelSpec",
    "Client",
    "Consumer",
    "ContractCreated",
    "ContractSigned",
    "ConversionReported",
    "DeadLetter",
    "DeadLetterNotFound",
    "DeadLetters",
    "Envelope",
    "EventBusError",
    "GroupStats",
    "Handler",
    "InstanceStatus",
    "InvalidEvent",
    "Keys",
    "LeadCreated",
    "LeadQualified",
    "MalformedEntry",
    "Media",
    "MessageReceived",
    "MessageSent",
    "Outage",
    "OutgoingMessage",
    "Payload",
    "PermanentFailure",
    "Published",
    "ReplayOutsideWindow",
    "Subscription",
    "UnknownEventType",
    "UnsupportedVersion",
    "Utm",
    "WriteNotAcknowledged",
    "add_event_fields",
    "connect",
    "current_event",
    "forget_processed",
    "group_stats",
    "is_cluster_url",
    "processed_window_start",
    "replay_since",
    "subscribers",
    "tap",
    "warm",
]
