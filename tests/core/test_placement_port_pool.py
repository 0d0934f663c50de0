"""A role pool's free ports: the explicit list it switches to answers exactly as the spans did.

``RolePool`` keeps free ports as spans until they fragment, then as one list (see ``offer_state``). These
tests drive two pools with the same seeded random source, one forced to stay on spans, and check every
answer (picked port, has_port, remove_port, the count) is the same, for overlapping and adjacent spans too.
"""

from __future__ import annotations

import random

import pytest

from mesospaas.model.resources import ports
from mesospaas.placement import offer_state
from mesospaas.placement.offer_state import RolePool


def pool_of(*spans: tuple[int, int]) -> RolePool:
    pool = RolePool("*")
    pool.add(ports(*spans))
    return pool


def spans_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(offer_state, "_EXPAND_AFTER", 10**9)


def drive(pool: RolePool, actions: list[int], probes: list[int]) -> list[tuple[object, ...]]:
    """Pick and remove ports by a fixed script with a fixed seed; record every answer the pool gives."""
    rng = random.Random(5)
    answers: list[tuple[object, ...]] = []
    for action, probe in zip(actions, probes):
        if pool.port_count == 0:
            break
        if action == 0 and pool.has_port(probe):
            pool.remove_port(probe)
            answers.append(("removed", probe))
        else:
            answers.append(("picked", pool.pop_random_port(rng)))
        answers.append(("has", pool.has_port(probe), pool.port_count))
    return answers


@pytest.mark.parametrize(
    "spans",
    [((31000, 31999),), ((1000, 1010), (2000, 2100), (2050, 2060)), ((5, 5), (6, 40), (100, 180))],
)
def test_the_port_list_picks_what_the_spans_would(
    spans: tuple[tuple[int, int], ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    script = random.Random(9)
    actions = [script.randrange(4) for _ in range(60)]
    probes = [script.randint(*script.choice(spans)) + script.choice((0, 0, 0, 1)) for _ in range(60)]
    listed = pool_of(*spans)
    with_list = drive(listed, actions, probes)
    assert listed.free is not None, "the pool never switched to its list: the test compares nothing"
    spans_only(monkeypatch)
    spanned = pool_of(*spans)
    with_spans = drive(spanned, actions, probes)
    assert spanned.free is None
    assert with_list == with_spans
    assert any(answer[0] == "removed" for answer in with_list)


def test_a_wide_pool_keeps_its_spans() -> None:
    pool = pool_of((1, 60000))
    rng = random.Random(1)
    taken = {pool.pop_random_port(rng) for _ in range(50)}
    assert pool.free is None
    assert len(taken) == 50 and pool.port_count == 60000 - 50
    assert not any(pool.has_port(p) for p in taken)


def test_removing_a_port_the_list_lacks_fails_clearly() -> None:
    pool = pool_of((100, 400))
    rng = random.Random(2)
    while pool.free is None:
        pool.pop_random_port(rng)
    gone = next(p for p in range(100, 401) if not pool.has_port(p))
    with pytest.raises(ValueError, match=str(gone)):
        pool.remove_port(gone)
