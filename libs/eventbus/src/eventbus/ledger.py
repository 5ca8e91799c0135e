"""The one owner of a channel's delivery bookkeeping: what this process holds, what waits for its ordering key,
what is queued for a worker, what runs, what is handled but not yet acknowledged, and the handlers' deadlines.

The reader, the workers, the settler and the keeper (``channel.py`` draws them) change this state only
through the methods below, each of which keeps these invariants (``tests/test_ledger.py``, without Redis):

* every entry is held at most once (``held``, by entry id); an entry queued, waiting, running or
  awaiting its acknowledgement is held;
* one entry per event id is live (``events``): another copy of that event arriving meanwhile (a re-added
  entry) is parked as its *twin* and settled with it, never handled twice at the same time;
* ``acks`` lists handled entries whose acknowledgement is not on the server yet; they stay held until it is,
  so that a redelivery of them is still recognised here;
* a forgotten entry (acknowledged, dead-lettered, lost to a reclaim) is never queued again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from eventbus.envelope import Envelope


@dataclass(slots=True)
class Delivery:
    """One stream entry held by this process."""

    entry_id: str
    fields: dict[bytes, bytes]
    attempt: int
    member: str
    #: the entry's ``i`` field ('' when it has none)
    event_id: str
    event: Envelope[Any] | None = None
    timed_out: bool = False
    #: times its handler reported an outage (no attempt counted for those), for the backoff
    outages: int = 0
    #: handled; its acknowledgement is queued or on its way to the server
    done: bool = False


class Ledger:
    """See the module docstring. ``stopping`` tells whether the consumer is stopping (nothing is queued then)."""

    def __init__(self, prefetch: int, *, stopping: Callable[[], bool] = lambda: False) -> None:
        self.prefetch = prefetch
        self._stopping = stopping
        self.held: dict[str, Delivery] = {}
        self.events: dict[str, str] = {}  # event id → entry id, for entries held here
        self.twins: dict[str, list[Delivery]] = {}
        self.waiting: dict[str, Delivery] = {}  # ordering member → the entry waiting for its turn
        self.queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self.acks: list[Delivery] = []
        self.active: set[str] = set()  # entry ids whose handler runs now
        #: running handlers' tasks → their deadline (``time.perf_counter``) and the deliveries they handle
        self.deadlines: dict[asyncio.Task[Any], tuple[float, Sequence[Delivery]]] = {}
        #: set when an entry is settled or released: a read loop waiting for room looks again
        self.wake = asyncio.Event()
        self.closing = False
        #: Redis is away: no handler starts before this moment (time.monotonic; 0: no pause)
        self.resume_at = 0.0
        #: called when an entry is settled while the reader blocks (its acknowledgement goes out meanwhile)
        self.on_settled_while_blocked: Callable[[], None] | None = None
        self.blocked = False

    # -- reading ------------------------------------------------------------------------------------------

    def room(self) -> int:
        """How many entries the next read may take. Handled entries whose acknowledgement rides on that read
        are settled on the server before it reads, so they do not count (counting them would make the consumer
        and Redis take turns instead of working at the same time)."""
        return self.prefetch - len(self.held) + len(self.acks)

    def admit(self, admitted: Iterable[Any]) -> None:
        """Hold what a read, admit or reclaim script handed us: ``(entry id, fields, attempt, member,
        runnable)`` rows. Runnable entries are queued; the others wait for their ordering key's turn."""
        held, events = self.held, self.events
        for entry_id_b, raw_fields, attempt, member_b, runnable in admitted:
            entry_id = entry_id_b.decode()
            if entry_id in held:
                continue  # already ours in this process (a reclaim of our own slow entry)
            pairs = iter(raw_fields)
            fields = dict(zip(pairs, pairs, strict=True))
            event_id = fields.get(b"i", b"").decode(errors="replace")
            delivery = Delivery(entry_id, fields, int(attempt), member_b.decode(), event_id)
            held[entry_id] = delivery
            if event_id:
                if event_id in events:
                    # Another copy of an event this process is handling right now: our own lease does not
                    # stop us, so park it and settle it with the original.
                    self.twins.setdefault(event_id, []).append(delivery)
                    continue
                events[event_id] = entry_id
            if runnable:
                self.queue.put_nowait(delivery)
            else:
                self.waiting[delivery.member] = delivery

    def runnable(self, members: Iterable[str]) -> None:
        """The server says these ordering members' heads may run now: queue the entries waiting for them."""
        for member in members:
            delivery = self.waiting.pop(member, None)
            if delivery is not None:
                self.queue.put_nowait(delivery)

    def take_acks(self) -> list[Delivery]:
        """The acknowledgements to send with the next round trip; :meth:`acknowledged` or :meth:`unsent` after."""
        acks, self.acks = self.acks, []
        return acks

    def unsent(self, acks: list[Delivery]) -> None:
        """The round trip carrying ``acks`` failed: keep them, first, for the next one."""
        self.acks[:0] = acks

    def acknowledged(self, acks: list[Delivery]) -> int:
        """``acks`` are on the server: forget them; their parked twins are acknowledged in the next round
        trip. Returns how many of them were handled (the rest are twins)."""
        handled = 0
        for d in acks:
            handled += d.done
            if twins := self.forget(d):
                self.acks.extend(twins)
        return handled

    # -- handling -----------------------------------------------------------------------------------------

    def current(self, d: Delivery) -> bool:
        """May ``d`` start? Not if it was lost to a reclaim while queued (maybe held again, as another
        delivery), nor once shutting down."""
        return self.held.get(d.entry_id) is d and not self.closing

    def start(self, ds: Iterable[Delivery]) -> None:
        self.active.update(d.entry_id for d in ds)

    def finish(self, ds: Iterable[Delivery]) -> None:
        self.active.difference_update(d.entry_id for d in ds)

    def start_one(self, d: Delivery) -> None:
        """:meth:`start` for one delivery, without a list per event (the per-event workers' hot path)."""
        self.active.add(d.entry_id)

    def finish_one(self, d: Delivery) -> None:
        self.active.discard(d.entry_id)

    def running(self) -> bool:
        """Whether any handler runs now (shutdown waits for them, up to its grace period)."""
        return bool(self.active)

    def settle(self, d: Delivery) -> None:
        """``d`` was handled: acknowledge it with the next round trip. It stays held until then."""
        if d.entry_id not in self.held:
            return
        d.done = True
        self.acks.append(d)
        self.wake.set()
        if self.blocked and self.on_settled_while_blocked is not None:
            self.on_settled_while_blocked()

    def requeue(self, d: Delivery) -> None:
        """Hand ``d`` to a worker again (after a backoff), unless it is no longer ours."""
        if self.held.get(d.entry_id) is d and not self._stopping():
            self.queue.put_nowait(d)

    def dropped(self, d: Delivery) -> None:
        """``d`` left this process another way than an acknowledgement (a dead letter): its twins run now."""
        for twin in self.forget(d):
            self.events[twin.event_id] = twin.entry_id
            self.queue.put_nowait(twin)
        self.wake.set()

    def lost(self, entry_id: str) -> Delivery | None:
        """Another consumer reclaimed ``entry_id`` (we stalled past the visibility timeout). A running handler
        finishes and acknowledges (its side effect is done); anything not started is given up. Returns the
        delivery given up, if any."""
        gone = self.held.get(entry_id)
        if gone is None or gone.entry_id in self.active:
            return None
        self.waiting.pop(gone.member, None)
        self.dropped(gone)
        return gone

    def forget(self, d: Delivery) -> Sequence[Delivery]:
        """Drop ``d`` from what we hold; returns its parked twins."""
        self.held.pop(d.entry_id, None)
        if self.events.get(d.event_id) == d.entry_id:
            del self.events[d.event_id]
            if self.twins:
                return self.twins.pop(d.event_id, ())
        return ()

    # -- keeping ------------------------------------------------------------------------------------------

    def holding(self) -> list[Delivery]:
        """Everything held now, in the order it came."""
        return list(self.held.values())

    def reclaim_room(self) -> int:
        """How many entries a reclaim may take over now: what the prefetch leaves free."""
        return self.prefetch - len(self.held)

    def leased(self) -> list[tuple[str, str]]:
        """``(entry id, event id)`` of what we hold and have not handled, for the heartbeat (a handled entry
        may be acknowledged while the heartbeat is in flight: it must not look lost)."""
        return [(d.entry_id, d.event_id) for d in self.held.values() if not d.done]

    def watch(self, task: asyncio.Task[Any], deadline: float, ds: Sequence[Delivery]) -> None:
        self.deadlines[task] = (deadline, ds)

    def unwatch(self, task: asyncio.Task[Any]) -> None:
        self.deadlines.pop(task, None)

    def overdue(self, now: float) -> list[asyncio.Task[Any]]:
        """The handler tasks past their deadline, their deliveries marked timed out (each task once)."""
        late = []
        for task, (deadline, ds) in list(self.deadlines.items()):
            if now >= deadline and not ds[0].timed_out:
                for d in ds:
                    d.timed_out = True
                late.append(task)
        return late

    def release(self) -> None:
        """Shutting down: everything held was handed back to the group; the ledger is empty after."""
        self.held.clear()
        self.events.clear()
        self.twins.clear()
        self.waiting.clear()
