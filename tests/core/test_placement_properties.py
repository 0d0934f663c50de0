"""Properties of place(): it never over-commits an offer, and every instance is accounted for."""

from __future__ import annotations

import random
from collections import Counter, defaultdict

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mesospaas.model import AppSpec, Offer, Snapshot
from mesospaas.model.resources import PORTS
from mesospaas.placement import PlacementResult, Profile, default_profile, place
from tests.core.builders import an_app, an_offer, pending

PROPERTY = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

ROLES = ("*", "prod")


@st.composite
def offers(draw: st.DrawFn) -> list[Offer]:
    result = []
    for n in range(draw(st.integers(1, 6))):
        builder = an_offer().on(f"h{draw(st.integers(0, 3))}").id(f"o{n}").no_ports()
        builder.cpus(draw(st.integers(0, 40)) / 10).mem(draw(st.integers(0, 4096))).disk(draw(st.integers(0, 500)))
        if draw(st.booleans()):
            builder.reserved("prod", cpus=draw(st.integers(0, 20)) / 10, mem=draw(st.integers(0, 2048)))
        if draw(st.integers(0, 4)) == 0:
            builder.gpus(draw(st.integers(1, 2)))
        role = draw(st.sampled_from(ROLES))
        starts = draw(st.lists(st.integers(31000, 31030), max_size=3, unique=True))
        spans = sorted((s, s + draw(st.integers(0, 3))) for s in starts)
        merged: list[tuple[int, int]] = []
        for begin, end in spans:
            if merged and begin <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((begin, end))
        if merged:
            builder.ports(*merged, role=role)
        if draw(st.booleans()):
            builder.attr("rack", f"r{draw(st.integers(0, 2))}")
        result.append(builder.build())
    return result


@st.composite
def apps(draw: st.DrawFn) -> list[AppSpec]:
    result = []
    for n in range(draw(st.integers(1, 3))):
        builder = an_app(f"/app{n}").instances(draw(st.integers(1, 6)))
        builder.cpus(draw(st.integers(1, 20)) / 10).mem(draw(st.integers(1, 1024))).disk(draw(st.integers(0, 100)))
        if draw(st.integers(0, 5)) == 0:
            builder.gpus(1)
        fixed = draw(st.lists(st.integers(31000, 31033), max_size=2, unique=True))
        dynamic = draw(st.integers(0, 2))
        if draw(st.booleans()) and fixed:
            builder.ports(*fixed, *([0] * dynamic)).require_ports()
        else:
            builder.ports(*([0] * dynamic))
        if draw(st.booleans()):
            builder.role("prod")
        if draw(st.integers(0, 3)) == 0:
            builder.accepted_roles(*draw(st.lists(st.sampled_from(ROLES), min_size=1, max_size=2, unique=True)))
        for constraint in draw(st.lists(st.sampled_from(["unique", "group_by", "max_per", "like"]), unique=True)):
            if constraint == "unique":
                builder.unique("hostname")
            elif constraint == "group_by":
                builder.group_by("rack")
            elif constraint == "max_per":
                builder.max_per("rack", 2)
            else:
                builder.like("rack", "r[01]")
        if draw(st.booleans()):
            builder.binpack()
        result.append(builder.build())
    return result


def run(app_list: list[AppSpec], offer_list: list[Offer], seed: int, bounds: tuple[int, ...] = (1, 2, 8)) -> PlacementResult:
    """Place with a search bound and partitioning drawn from the seed, so every search path is exercised."""
    waiting = [i for a in app_list for i in pending(a)]
    knobs = random.Random(seed)
    base = default_profile(candidates_per_decision=knobs.choice(bounds))
    profile = Profile(
        base.filters, base.scorers, base.weights, base.candidates_per_decision, max_partitions=knobs.choice([1, 64])
    )
    return place(Snapshot.of(app_list), waiting, offer_list, profile, random.Random(seed))


@PROPERTY
@given(apps(), offers(), st.integers(0, 2**32))
def test_placement_never_over_commits_an_offer(app_list: list[AppSpec], offer_list: list[Offer], seed: int) -> None:
    result = run(app_list, offer_list, seed)
    by_id = {o.id: o for o in offer_list}
    specs = {a.id: a for a in app_list}
    for offer_id, launches in result.launches_by_offer().items():
        offer = by_id[offer_id]
        used: dict[tuple[str, str], float] = defaultdict(float)
        ports_used: list[int] = []
        for launch in launches:
            assert launch.agent == offer.agent
            for resource in launch.resources:
                assert resource.role in specs[launch.app_id].accepted_roles
                if resource.name == PORTS:
                    for begin, end in resource.ranges:
                        ports_used.extend(range(begin, end + 1))
                        offered = [r for o in offer.resources if o.name == PORTS and o.role == resource.role for r in o.ranges]
                        assert any(b <= begin and end <= e for b, e in offered), (resource, offered)
                else:
                    used[(resource.name, resource.role)] += resource.scalar
            assert sorted(launch.host_ports) == sorted(
                p for r in launch.resources if r.name == PORTS for b, e in r.ranges for p in range(b, e + 1)
            )
        assert len(ports_used) == len(set(ports_used)), "a host port was handed out twice"
        for (name, role), amount in used.items():
            offered_amount = sum(r.scalar for r in offer.resources if r.name == name and r.role == role)
            assert amount <= offered_amount + 1e-9, (name, role, amount, offered_amount)


@PROPERTY
@given(apps(), offers(), st.integers(0, 2**32))
def test_every_instance_is_launched_or_unplaced_and_every_unused_offer_declined(
    app_list: list[AppSpec], offer_list: list[Offer], seed: int
) -> None:
    result = run(app_list, offer_list, seed)
    assert len(result.launches) + len(result.unplaced) == sum(a.instances for a in app_list)
    assert len({l.instance_id for l in result.launches} | set(result.unplaced)) == sum(a.instances for a in app_list)
    used = {l.offer_id for l in result.launches}
    assert set(result.declines) == {o.id for o in offer_list} - used
    for app in app_list:
        hosts = [l.agent.hostname for l in result.launches if l.app_id == app.id]
        if any(str(c) == "hostname:UNIQUE" for c in app.constraints):
            assert len(hosts) == len(set(hosts))
        racks = Counter(l.agent.field_value("rack") for l in result.launches if l.app_id == app.id)
        if any(str(c) == "rack:MAX_PER:2" for c in app.constraints):
            assert all(n <= 2 for n in racks.values())
        if any(str(c) == "rack:LIKE:r[01]" for c in app.constraints):
            assert set(racks) <= {"r0", "r1"}
        diagnostics = result.diagnostics[app.id]
        assert diagnostics.launched + diagnostics.unplaced == app.instances
        if diagnostics.unplaced:
            # The bounded search only gives up when nothing fits: every offer has a reason.
            assert sum(diagnostics.rejects.values()) == len(offer_list), diagnostics


@settings(max_examples=60, deadline=None, database=None)
@given(st.integers(1, 40), st.integers(2, 5), st.integers(0, 2**32))
def test_group_by_spreads_within_one_when_capacity_allows(instances: int, racks: int, seed: int) -> None:
    app = an_app("/web").instances(instances).group_by("rack").build()
    offer_list = [an_offer().on(f"h{r}-{i}").attr("rack", f"r{r}").cpus(64).build() for r in range(racks) for i in range(2)]
    result = run([app], offer_list, seed, bounds=(8,))  # a quality property: needs the default search bound
    counts = Counter(l.agent.field_value("rack") for l in result.launches)
    assert len(result.launches) == instances
    assert max(counts.values()) - min(counts.get(f"r{r}", 0) for r in range(racks)) <= 1
