"""A batch handler's per-message outcomes (eventbus.BatchOutcomes): the bookkeeping a phased handler needs to
fail one message without failing the batch, kept by the bus rather than by each handler."""

from collections.abc import Sequence

from eventbus import BatchOutcomes


def test_every_message_is_handled_until_a_step_fails_it_and_the_first_failure_is_kept() -> None:
    outcomes = BatchOutcomes(["a", "b", "c"])
    assert list(outcomes) == [None, None, None]
    first, later = ValueError("the cause"), RuntimeError("a consequence")
    outcomes.failed(1, first)
    outcomes.failed(1, later)
    assert list(outcomes) == [None, first, None]
    assert outcomes.pending() == [0, 2]
    assert not outcomes.ok(1) and outcomes.ok(0)


def test_a_step_run_for_each_message_fails_only_the_messages_it_raised_for() -> None:
    outcomes = BatchOutcomes([1, 0, 2])
    halves = outcomes.each(range(3), lambda i: 2 // outcomes.events[i])
    assert halves == {0: 2, 2: 1}
    assert isinstance(outcomes[1], ZeroDivisionError)


def test_a_batched_calls_results_fail_the_messages_whose_result_is_an_error() -> None:
    outcomes = BatchOutcomes(["a", "b", "c"])
    refused = ConnectionError("refused")
    assert outcomes.collect([0, 2], ["A", refused]) == {0: "A"}
    assert list(outcomes) == [None, None, refused]


def test_it_is_the_sequence_a_batch_handler_returns() -> None:
    outcomes = BatchOutcomes(["a", "b"])
    answer: Sequence[Exception | None] = outcomes
    assert len(answer) == 2 and answer[0] is None and list(answer[:1]) == [None]
