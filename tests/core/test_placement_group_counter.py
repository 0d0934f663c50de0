"""``GroupCounter.of`` (the bulk build a round uses for existing instances) equals adding one by one."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mesospaas.placement.placed_index import GroupCounter

VALUES = st.lists(st.one_of(st.none(), st.sampled_from(["r1", "r2", "r3", "r4"])), max_size=40)


@settings(max_examples=200, deadline=None, database=None)
@given(VALUES, VALUES)
def test_bulk_build_equals_adding_one_by_one(first: list[str | None], later: list[str | None]) -> None:
    bulk = GroupCounter.of(first)
    one_by_one = GroupCounter()
    for value in first:
        one_by_one.add(value)
    for value in later:  # a round keeps adding to a bulk-built counter
        bulk.add(value)
        one_by_one.add(value)
        assert bulk.min_count == one_by_one.min_count == min(bulk.counts.values())
    assert bulk.counts == one_by_one.counts
    assert list(bulk.counts) == list(one_by_one.counts)
    assert bulk.hist == one_by_one.hist
    assert (bulk.min_count, bulk.total, bulk.groups) == (one_by_one.min_count, one_by_one.total, one_by_one.groups)


def test_an_empty_bulk_build_is_an_empty_counter() -> None:
    empty = GroupCounter.of([])
    assert (empty.counts, empty.hist, empty.min_count, empty.total) == ({}, {}, 0, 0)
