"""Errors of facebook-capi, and what each one means for the event being handled.

PermanentFailure (eventbus)                  → dead letter at once, this message as its error
  EventTooOld            occurred_at is outside Meta's 7-day window: Meta would refuse the whole request
  InvalidConversion      our own pre-validation found the server event unacceptable (a bad config, a name
                         business messaging does not allow): never sent, so it cannot poison a batch
  UpstreamRejected (servicekit)
    GraphRejected        Meta answered an error retrying cannot fix; carries Meta's code, subcode, message
      EventRejected      code 100 (invalid parameter) on a batch: some event in it is bad (split and retry)
UpstreamUnavailable (servicekit)             → retried (here with backoff, then by the consumer)
  GraphUnavailable       503, 429, throttling (codes 1, 2, 4, 17, 32, 341, 613, 80000-80014) or `is_transient`
                         on an answer that stored nothing; honours Retry-After
  UpstreamDown           (servicekit) refused, DNS, connect timeout, circuit open: an Outage, nothing sent
  OutcomeUnknown         (servicekit; a PermanentFailure) a timeout after sending, a cut connection, a 5xx, an
                         unreadable 2xx, a partial `events_received`: dead letter, an operator decides
"""

from __future__ import annotations

from eventbus import PermanentFailure
from servicekit import UpstreamRejected, UpstreamUnavailable


class EventTooOld(PermanentFailure):
    pass


class InvalidConversion(PermanentFailure):
    pass


class GraphRejected(UpstreamRejected):
    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: int | None,
        subcode: int | None = None,
        fbtrace_id: str | None = None,
    ) -> None:
        detail = f"code {code}" + (f"/{subcode}" if subcode is not None else "")
        trace = f" (fbtrace_id {fbtrace_id})" if fbtrace_id else ""
        super().__init__(f"Meta rejected the events: {detail}: {message}{trace}")
        self.status, self.code, self.subcode, self.fbtrace_id = status, code, subcode, fbtrace_id
        self.meta_message = message


class EventRejected(GraphRejected):
    pass


class GraphUnavailable(UpstreamUnavailable):
    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code, self.status, self.retry_after = code, status, retry_after
