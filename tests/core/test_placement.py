"""place(): resources, ports, roles, offer sharing, same-round counting, strategies, diagnostics."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from mesospaas.errors import InvalidPlacementInput, InvalidProfile, UnknownApp
from mesospaas.model import Goal, PlacementStrategy, Snapshot
from mesospaas.model.resources import CPUS, MEM, PORTS
from mesospaas.placement import NoMatchReason, PlacementResult, PlacementRound, Profile, default_profile, place
from mesospaas.placement.scorers import AppSpreadScorer, MostAllocatedScorer
from tests.core.builders import an_app, an_instance, an_offer, hosts_of, pending, place_all


def reasons(result: PlacementResult, app_path: str) -> dict[str, int]:
    """The reject counts of an app, by Marathon reason name."""
    diagnostics = next(d for a, d in result.diagnostics.items() if a == app_path)
    return {reason.value: count for reason, count in diagnostics.rejects.items()}


# -- resources ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("app", "offer", "reason"),
    [
        (an_app("/a").cpus(2), an_offer().cpus(1), "InsufficientCpus"),
        (an_app("/a").mem(4096), an_offer().mem(1024), "InsufficientMemory"),
        (an_app("/a").disk(500), an_offer().disk(100), "InsufficientDisk"),
        (an_app("/a").gpus(1), an_offer(), "InsufficientGpus"),
        (an_app("/a").ports(0, 0), an_offer().ports((31000, 31000)), "InsufficientPorts"),
        (an_app("/a"), an_offer().gpus(1), "DeclinedScarceResources"),
        (an_app("/a"), an_offer().only_role("prod"), "UnfulfilledRole"),
        (an_app("/a").accepted_roles("prod"), an_offer(), "UnfulfilledRole"),
        (an_app("/a").role("prod"), an_offer().allocated_to("dev"), "UnfulfilledRole"),
    ],
)
def test_an_offer_that_lacks_what_the_app_needs_is_declined_with_the_reason(app, offer, reason) -> None:  # type: ignore[no-untyped-def]
    spec = app.build()
    result = place_all(spec, [offer.build()])
    assert result.launches == ()
    assert reasons(result, "/a") == {reason: 1}
    assert len(result.declines) == 1


def test_several_instances_share_one_offer_which_shrinks_as_the_round_takes_from_it() -> None:
    app = an_app("/web").instances(5).cpus(0.5).mem(100).build()
    offer = an_offer().cpus(2).mem(1000).build()
    result = place_all(app, [offer])
    assert len(result.launches) == 4
    assert {l.offer_id for l in result.launches} == {offer.id}
    assert result.declines == ()
    assert reasons(result, "/web") == {"InsufficientCpus": 1}


def test_launches_carry_the_resources_they_take() -> None:
    app = an_app("/web").cpus(0.25).mem(64).disk(10).build()
    result = place_all(app, [an_offer().build()])
    (launch,) = result.launches
    amounts = {r.name: r.scalar for r in launch.resources if r.name != PORTS}
    assert amounts == {"cpus": 0.25, "mem": 64, "disk": 10}
    (ports,) = [r for r in launch.resources if r.name == PORTS]
    assert ports.ranges == tuple((p, p) for p in launch.host_ports)
    assert launch.task_id == f"{launch.instance_id}._app.1"


def test_dynamic_ports_come_from_the_offers_ranges_and_are_never_reused() -> None:
    app = an_app("/web").instances(4).ports(0, 0).build()
    result = place_all(app, [an_offer().ports((31000, 31003), (32000, 32003)).build()])
    assert len(result.launches) == 4
    ports = [p for l in result.launches for p in l.host_ports]
    assert len(ports) == len(set(ports)) == 8
    assert set(ports) <= set(range(31000, 31004)) | set(range(32000, 32004))


def test_require_ports_takes_exactly_the_declared_ports() -> None:
    app = an_app("/web").instances(2).ports(8080, 0).require_ports().build()
    result = place_all(app, [an_offer().on("h1").ports((8000, 8100)).build(), an_offer().on("h2").build()])
    (launch,) = result.launches
    assert launch.agent.hostname == "h1"
    assert launch.host_ports[0] == 8080 and 8000 <= launch.host_ports[1] <= 8100
    assert launch.host_ports[1] != 8080
    assert reasons(result, "/web") == {"InsufficientPorts": 2}


def test_without_require_ports_declared_ports_are_service_ports_and_host_ports_are_dynamic() -> None:
    app = an_app("/web").ports(8080).build()
    result = place_all(app, [an_offer().ports((31000, 31010)).build()])
    assert 31000 <= result.launches[0].host_ports[0] <= 31010


# -- roles --------------------------------------------------------------------------------------------------


def test_an_app_uses_its_roles_reservation_before_unreserved_resources() -> None:
    app = an_app("/web").role("prod").cpus(3).build()
    offer = an_offer().cpus(4).reserved("prod", cpus=2).build()
    (launch,) = place_all(app, [offer]).launches
    taken = sorted((r.role, r.scalar) for r in launch.resources if r.name == CPUS)
    assert taken == [("*", 1.0), ("prod", 2.0)]


def test_accepted_resource_roles_restrict_which_resources_may_be_used() -> None:
    app = an_app("/web").role("prod").accepted_roles("prod").cpus(1).mem(64).build()
    offer = an_offer().cpus(4).mem(1024).reserved("prod", cpus=2, mem=32).build()
    result = place_all(app, [offer])
    assert reasons(result, "/web") == {"InsufficientMemory": 1}


def test_an_app_in_another_role_does_not_touch_a_reservation() -> None:
    app = an_app("/web").build()
    offer = an_offer().cpus(1).reserved("prod", cpus=8).build()
    result = place_all(app, [offer])
    (launch,) = result.launches
    assert {r.role for r in launch.resources} == {"*"}


# -- maintenance --------------------------------------------------------------------------------------------


def test_agents_inside_a_maintenance_window_are_declined() -> None:
    app = an_app("/web").instances(2).build()
    now = 1000.0
    offers = [
        an_offer().on("draining").maintenance(start=900, duration=600).build(),
        an_offer().on("later").maintenance(start=5000).build(),
    ]
    result = place_all(app, offers, now=now)
    assert hosts_of(result) == ["later", "later"]
    assert result.diagnostics[app.id].rejects[NoMatchReason.AGENT_MAINTENANCE] == 1


def test_gpu_agents_are_kept_for_gpu_apps_unless_the_profile_allows_sharing() -> None:
    app = an_app("/web").build()
    offer = an_offer().gpus(2).build()
    assert place_all(app, [offer]).launches == ()
    assert len(place_all(app, [offer], profile=default_profile(restrict_gpus=False)).launches) == 1


# -- counting placements made earlier in the same round -------------------------------------------------


def test_a_unique_app_never_gets_two_instances_on_one_host_in_one_round() -> None:
    app = an_app("/web").instances(3).unique("hostname").build()
    result = place_all(app, [an_offer().on("h1").build(), an_offer().on("h2").build()])
    assert sorted(hosts_of(result)) == ["h1", "h2"]
    assert len(result.unplaced) == 1


def test_unique_counts_every_offer_of_one_host() -> None:
    app = an_app("/web").instances(2).unique("hostname").build()
    result = place_all(app, [an_offer().on("h1").build(), an_offer().on("h1").build()])
    assert hosts_of(result) == ["h1"]


def test_group_by_stays_balanced_within_one_round() -> None:
    app = an_app("/web").instances(9).group_by("rack").build()
    offers = [an_offer().on(f"h{r}{i}").attr("rack", f"r{r}").build() for r in range(3) for i in range(2)]
    result = place_all(app, offers)
    per_rack = Counter(l.agent.field_value("rack") for l in result.launches)
    assert sorted(per_rack.values()) == [3, 3, 3]


def test_group_by_balances_against_instances_already_running() -> None:
    app = an_app("/web").instances(6).group_by("rack").build()
    existing = [an_instance(app).on(an_offer().on("x").attr("rack", "r1").agent_info()).running().build()] * 1
    existing += [an_instance(app).on(an_offer().on("y").attr("rack", "r1").agent_info()).running().build()]
    offers = [an_offer().attr("rack", r).build() for r in ("r1", "r2", "r3")]
    result = place_all(app, offers, waiting=pending(app, 4), existing=existing)
    per_rack = Counter(l.agent.field_value("rack") for l in result.launches)
    assert per_rack == {"r2": 2, "r3": 2}


def test_max_per_counts_this_rounds_launches() -> None:
    app = an_app("/web").instances(10).max_per("rack", 2).build()
    offers = [an_offer().attr("rack", r).build() for r in ("r1", "r2")]
    result = place_all(app, offers)
    assert len(result.launches) == 4 and len(result.unplaced) == 6


def test_cluster_without_a_value_locks_onto_the_first_placement_of_the_round() -> None:
    app = an_app("/web").instances(4).cluster("rack").build()
    offers = [an_offer().attr("rack", r).build() for r in ("r1", "r2", "r3")]
    result = place_all(app, offers)
    assert len({l.agent.field_value("rack") for l in result.launches}) == 1
    assert len(result.launches) == 4


# -- strategies ---------------------------------------------------------------------------------------------


def test_spread_puts_the_fewest_instances_per_host_first() -> None:
    app = an_app("/web").instances(6).build()
    result = place_all(app, [an_offer().on(f"h{i}").build() for i in range(3)])
    assert sorted(Counter(hosts_of(result)).values()) == [2, 2, 2]


def test_spread_counts_instances_already_running() -> None:
    app = an_app("/web").instances(3).build()
    existing = [an_instance(app).on("h1").running().build(), an_instance(app).on("h1").running().build()]
    result = place_all(app, [an_offer().on("h1").build(), an_offer().on("h2").build()], waiting=pending(app, 1), existing=existing)
    assert hosts_of(result) == ["h2"]


def test_spread_then_prefers_the_least_loaded_host() -> None:
    app = an_app("/web").build()
    result = place_all(app, [an_offer().on("small").cpus(2).build(), an_offer().on("big").cpus(32).build()])
    assert hosts_of(result) == ["big"]


def test_binpack_fills_the_fullest_host_that_still_fits() -> None:
    app = an_app("/batch").instances(5).cpus(1).binpack().build()
    offers = [an_offer().on("small").cpus(2).build(), an_offer().on("big").cpus(16).build()]
    result = place_all(app, offers)
    assert Counter(hosts_of(result)) == {"small": 2, "big": 3}


def test_ties_are_broken_by_the_seeded_random() -> None:
    app = an_app("/web").build()
    offers = [an_offer().on(f"h{i}").build() for i in range(20)]
    chosen = {hosts_of(place_all(app, offers, seed=seed))[0] for seed in range(12)}
    assert len(chosen) > 3
    assert hosts_of(place_all(app, offers, seed=5)) == hosts_of(place_all(app, offers, seed=5))


def test_the_same_inputs_and_seed_give_the_same_placement() -> None:
    apps = [an_app("/a").instances(30).group_by("rack").build(), an_app("/b").instances(20).binpack().build()]
    offers = [an_offer().on(f"h{i}").attr("rack", f"r{i % 3}").build() for i in range(10)]
    waiting = [i for a in apps for i in pending(a)]
    snapshot = Snapshot.of(apps)
    first = place(snapshot, waiting, offers, default_profile(), random.Random(99))
    second = place(snapshot, waiting, offers, default_profile(), random.Random(99))
    assert first == second


# -- diagnostics --------------------------------------------------------------------------------------------


def test_a_waiting_app_gets_one_reason_per_offer() -> None:
    app = an_app("/web").cpus(2).mem(1024).like("rack", "r.*").build()
    offers = [
        an_offer().cpus(1).attr("rack", "r1").build(),
        an_offer().mem(512).attr("rack", "r1").build(),
        an_offer().build(),
    ]
    result = place_all(app, offers)
    diagnostics = result.diagnostics[app.id]
    assert diagnostics.unplaced == 1 and diagnostics.processed_offers == 3
    assert reasons(result, "/web") == {"InsufficientCpus": 1, "InsufficientMemory": 1, "UnfulfilledConstraint": 1}
    assert dict(diagnostics.rejects_by_rule) == {"rack:LIKE:r.*": 1}
    funnel = {line.reason.value: (line.declined, line.processed) for line in diagnostics.reject_summary()}
    assert funnel["InsufficientCpus"] == (1, 3)
    assert funnel["InsufficientMemory"] == (1, 2)
    assert funnel["UnfulfilledConstraint"] == (1, 1)
    assert set(result.declines) == {o.id for o in offers}


def test_offers_with_launches_are_not_declined() -> None:
    app = an_app("/web").instances(1).build()
    offers = [an_offer().on("big").cpus(64).build(), an_offer().on("small").build()]
    result = place_all(app, offers)
    assert result.declines == (offers[1].id,)
    assert result.launches_by_offer() == {offers[0].id: list(result.launches)}


def test_instances_of_an_unknown_app_are_a_bug() -> None:
    app = an_app("/web").build()
    with pytest.raises(UnknownApp):
        place(Snapshot.of([]), pending(app, 1), [an_offer().build()], default_profile(), random.Random(1))


def test_instances_that_are_not_launchable_are_a_bug() -> None:
    app = an_app("/web").build()
    running = an_instance(app).on("h1").running().build()
    stopped = an_instance(app).goal(Goal.STOPPED).build()
    for instance in (running, stopped):
        with pytest.raises(InvalidPlacementInput):
            place(Snapshot.of([app]), [instance], [an_offer().build()], default_profile(), random.Random(1))


def test_one_decision_at_a_time_gives_the_same_result_as_place() -> None:
    app = an_app("/web").instances(5).build()
    offers = [an_offer().on(f"h{i}").build() for i in range(4)]
    waiting = pending(app)
    placement_round = PlacementRound(Snapshot.of([app]), offers, default_profile(), random.Random(3))
    for instance in waiting:
        assert placement_round.place_one(instance) is not None
    assert placement_round.result() == place(Snapshot.of([app]), waiting, offers, default_profile(), random.Random(3))


# -- profiles -----------------------------------------------------------------------------------------------


def test_a_profile_with_a_scorer_and_no_weight_fails_at_construction() -> None:
    base = default_profile()
    scorers = dict(base.scorers)
    scorers[PlacementStrategy.SPREAD] = (AppSpreadScorer(),)
    with pytest.raises(InvalidProfile, match="most-allocated"):
        Profile(base.filters, {**scorers, PlacementStrategy.BINPACK: (MostAllocatedScorer(),)}, {"app-spread": 1})
    with pytest.raises(InvalidProfile, match="weights for scorers the profile does not have"):
        Profile(base.filters, scorers | {PlacementStrategy.BINPACK: ()}, {"app-spread": 1, "nope": 2})
    with pytest.raises(InvalidProfile):
        Profile(base.filters, base.scorers, base.weights, candidates_per_decision=0)


def test_a_bounded_search_of_one_candidate_still_places_everything_that_fits() -> None:
    app = an_app("/web").instances(8).unique("hostname").build()
    offers = [an_offer().on(f"h{i}").build() for i in range(8)]
    result = place_all(app, offers, profile=default_profile(candidates_per_decision=1))
    assert sorted(hosts_of(result)) == sorted(f"h{i}" for i in range(8))


def test_offer_totals_are_respected_for_memory_too() -> None:
    app = an_app("/web").instances(3).cpus(0.1).mem(400).build()
    result = place_all(app, [an_offer().mem(1000).build()])
    assert len(result.launches) == 2
    assert sum(r.scalar for l in result.launches for r in l.resources if r.name == MEM) == 800
