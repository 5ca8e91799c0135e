"""The ledger's invariants (eventbus.ledger), without Redis: what the reader, workers, settler and keeper may
rely on whatever order their calls come in."""

import asyncio

from eventbus.ledger import Delivery, Ledger


def row(entry_id: str, event_id: str, *, member: str = "", runnable: bool = True, attempt: int = 1) -> tuple:
    """An entry as the read, admit and reclaim scripts hand it over."""
    return (
        entry_id.encode(),
        [b"i", event_id.encode(), b"e", b"{}"],
        attempt,
        member.encode(),
        int(runnable),
    )


def queued(ledger: Ledger) -> list[str]:
    out = []
    while not ledger.queue.empty():
        out.append(ledger.queue.get_nowait().entry_id)
    return out


def held(ledger: Ledger, entry_id: str) -> Delivery:
    return ledger.held[entry_id]


async def test_admitted_runnable_entries_are_queued_and_the_others_wait_for_their_key() -> None:
    ledger = Ledger(8)
    ledger.admit([row("1-0", "evt_a", member="k1"), row("2-0", "evt_b", member="k1", runnable=False)])
    assert queued(ledger) == ["1-0"]
    assert set(ledger.waiting) == {"k1"}
    assert set(ledger.held) == {"1-0", "2-0"}
    ledger.runnable(["k1", "unknown"])
    assert queued(ledger) == ["2-0"]
    assert ledger.waiting == {}


async def test_an_entry_already_held_is_not_admitted_twice() -> None:
    ledger = Ledger(8)
    ledger.admit([row("1-0", "evt_a")])
    first = held(ledger, "1-0")
    ledger.admit([row("1-0", "evt_a")])  # a reclaim of our own slow entry
    assert held(ledger, "1-0") is first
    assert queued(ledger) == ["1-0"]


async def test_a_second_copy_of_an_event_in_hand_is_parked_and_settled_with_the_first() -> None:
    ledger = Ledger(8)
    ledger.admit([row("1-0", "evt_a"), row("5-0", "evt_a")])
    assert queued(ledger) == ["1-0"], "never two copies of one event running at once"
    original = held(ledger, "1-0")
    ledger.settle(original)
    acks = ledger.take_acks()
    assert [d.entry_id for d in acks] == ["1-0"]
    assert ledger.acknowledged(acks) == 1
    # The twin is acknowledged with the next round trip, not handled.
    assert [d.entry_id for d in ledger.acks] == ["5-0"]
    assert queued(ledger) == []
    assert ledger.acknowledged(ledger.take_acks()) == 0, "a twin is not counted as handled"
    assert ledger.held == {} and ledger.events == {} and ledger.twins == {}


async def test_a_dead_lettered_event_hands_its_parked_copy_to_a_worker() -> None:
    ledger = Ledger(8)
    ledger.admit([row("1-0", "evt_a"), row("5-0", "evt_a")])
    original = ledger.queue.get_nowait()
    ledger.dropped(original)
    assert queued(ledger) == ["5-0"]
    assert ledger.events == {"evt_a": "5-0"}
    assert "1-0" not in ledger.held


async def test_a_settled_entry_stays_held_until_its_acknowledgement_is_on_the_server() -> None:
    ledger = Ledger(4)
    ledger.admit([row("1-0", "evt_a"), row("2-0", "evt_b")])
    d = held(ledger, "1-0")
    ledger.settle(d)
    assert d.done and "1-0" in ledger.held
    assert ledger.room() == 4 - 2 + 1, "an ack riding on the next read frees its room for that read"
    acks = ledger.take_acks()
    ledger.unsent(acks)  # the round trip failed
    assert ledger.acks == [d] and "1-0" in ledger.held
    ledger.acknowledged(ledger.take_acks())
    assert "1-0" not in ledger.held and ledger.room() == 3


async def test_unsent_acknowledgements_go_first_in_the_next_round_trip() -> None:
    ledger = Ledger(8)
    ledger.admit([row("1-0", "evt_a"), row("2-0", "evt_b")])
    ledger.settle(held(ledger, "1-0"))
    in_flight = ledger.take_acks()
    ledger.settle(held(ledger, "2-0"))
    ledger.unsent(in_flight)
    assert [d.entry_id for d in ledger.acks] == ["1-0", "2-0"]


async def test_settling_an_entry_no_longer_held_does_nothing() -> None:
    ledger = Ledger(8)
    ledger.admit([row("1-0", "evt_a")])
    d = held(ledger, "1-0")
    ledger.lost("1-0")
    ledger.settle(d)
    assert ledger.acks == [] and not d.done


async def test_a_requeue_after_a_backoff_skips_an_entry_that_is_no_longer_ours() -> None:
    stopping = False
    ledger = Ledger(8, stopping=lambda: stopping)
    ledger.admit([row("1-0", "evt_a"), row("2-0", "evt_b")])
    queued(ledger)
    lost = held(ledger, "1-0")
    ledger.lost("1-0")
    ledger.requeue(lost)
    ledger.requeue(held(ledger, "2-0"))
    assert queued(ledger) == ["2-0"]
    stopping = True
    ledger.requeue(held(ledger, "2-0"))
    assert queued(ledger) == [], "nothing is queued once stopping"


async def test_an_entry_lost_to_a_reclaim_is_given_up_unless_its_handler_runs() -> None:
    ledger = Ledger(8)
    ledger.admit([row("1-0", "evt_a", member="k"), row("2-0", "evt_b", member="j", runnable=False)])
    running = ledger.queue.get_nowait()
    ledger.start([running])
    assert ledger.lost("1-0") is None, "a running handler finishes and acknowledges"
    assert "1-0" in ledger.held
    ledger.finish([running])
    assert ledger.lost("2-0") is not None
    assert "2-0" not in ledger.held and "j" not in ledger.waiting


async def test_only_the_current_delivery_of_an_entry_may_start_and_none_once_closing() -> None:
    ledger = Ledger(8)
    ledger.admit([row("1-0", "evt_a")])
    old = ledger.queue.get_nowait()
    ledger.lost("1-0")
    ledger.admit([row("1-0", "evt_a")])  # held again, as another delivery
    assert not ledger.current(old)
    assert ledger.current(held(ledger, "1-0"))
    ledger.closing = True
    assert not ledger.current(held(ledger, "1-0"))


async def test_the_heartbeat_leases_only_what_is_not_handled_yet() -> None:
    ledger = Ledger(8)
    ledger.admit([row("1-0", "evt_a"), row("2-0", "evt_b")])
    ledger.settle(held(ledger, "1-0"))
    assert ledger.leased() == [("2-0", "evt_b")]


async def test_overdue_handlers_are_reported_once_with_their_deliveries_marked() -> None:
    ledger = Ledger(8)
    ledger.admit([row("1-0", "evt_a"), row("2-0", "evt_b")])
    ds = [held(ledger, "1-0"), held(ledger, "2-0")]
    task = asyncio.current_task()
    assert task is not None
    ledger.watch(task, 10.0, ds)
    assert ledger.overdue(9.0) == []
    assert ledger.overdue(10.0) == [task]
    assert all(d.timed_out for d in ds)
    assert ledger.overdue(11.0) == [], "cancelled once"
    ledger.unwatch(task)
    assert ledger.deadlines == {}


async def test_a_settle_while_the_reader_blocks_asks_for_a_flush() -> None:
    ledger = Ledger(8)
    flushes: list[None] = []
    ledger.on_settled_while_blocked = lambda: flushes.append(None)
    ledger.admit([row("1-0", "evt_a"), row("2-0", "evt_b")])
    ledger.settle(held(ledger, "1-0"))
    ledger.blocked = True
    ledger.settle(held(ledger, "2-0"))
    assert len(flushes) == 1
    assert ledger.wake.is_set()


async def test_release_empties_the_ledger() -> None:
    ledger = Ledger(8)
    ledger.admit(
        [
            row("1-0", "evt_a", member="k"),
            row("2-0", "evt_a"),
            row("3-0", "evt_c", member="m", runnable=False),
        ]
    )
    ledger.release()
    assert (ledger.held, ledger.events, ledger.twins, ledger.waiting) == ({}, {}, {}, {})


async def test_a_reclaim_takes_only_the_room_the_prefetch_leaves_and_shutdown_sees_running_handlers() -> None:
    ledger = Ledger(3)
    ledger.admit([row("1-0", "evt_a"), row("2-0", "evt_b")])
    assert ledger.reclaim_room() == 1
    assert [d.entry_id for d in ledger.holding()] == ["1-0", "2-0"]
    d = ledger.queue.get_nowait()
    assert not ledger.running()
    ledger.start_one(d)
    assert ledger.running()
    ledger.finish_one(d)
    assert not ledger.running()
