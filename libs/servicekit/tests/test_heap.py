"""servicekit.heap: the collector after a service has started."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from servicekit import heap


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_gc")
def test_settling_freezes_what_start_up_built_and_collects_the_young_generation_less_often() -> None:
    built_at_start_up = [object() for _ in range(10)]  # stands for modules, schemas, the app

    heap.settle()

    # Frozen: in the permanent generation, which no collection walks (get_objects lists the other three).
    assert gc.is_tracked(built_at_start_up)
    assert not any(o is built_at_start_up for o in gc.get_objects())
    assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD


@pytest.mark.usefixtures("restored_gc")
def test_cyclic_garbage_made_after_settling_is_still_collected() -> None:
    heap.settle()

    class Node:
        partner: object

    a, b = Node(), Node()
    a.partner, b.partner = b, a
    del a, b

    assert gc.collect() >= 2
