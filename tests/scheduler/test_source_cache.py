"""``SourceCache`` keeps a value while its source object (and stamp) stays the same, and drops the entries of
keys no longer live once it outgrows them (scheduler/source_cache.py)."""

from __future__ import annotations

from scheduler.source_cache import SourceCache


def test_a_value_is_made_again_only_for_another_source_or_stamp() -> None:
    made: list[str] = []
    cache: SourceCache[str, str] = SourceCache(lambda k: True, lambda: 1)

    def make(text: str) -> str:
        made.append(text)
        return text.upper()

    source, other = ["a"], ["a"]  # equal, but not the same object
    assert cache.get("k", source, lambda: make("one")) == "ONE"
    assert cache.get("k", source, lambda: make("two")) == "ONE"
    assert cache.get("k", other, lambda: make("three")) == "THREE"
    assert cache.get("k", other, lambda: make("four"), stamp=(1,)) == "FOUR"
    assert cache.get("k", other, lambda: make("five"), stamp=(1,)) == "FOUR"
    assert made == ["one", "three", "four"]


def test_dead_keys_are_dropped_once_the_cache_outgrows_the_live_ones() -> None:
    live = {"keep"}
    cache: SourceCache[str, int] = SourceCache(live.__contains__, lambda: len(live))
    cache.get("keep", live, lambda: 0)
    for n in range(200):
        cache.get(f"gone{n}", live, lambda: n)
    assert len(cache) <= 2 * len(live) + 64 + 1
    assert cache.get("keep", live, lambda: -1) == 0  # the live entry survived the clean-up
