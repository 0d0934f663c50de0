"""Affinity and anti-affinity between apps: hard (REQUIRED) rules and soft (PREFERRED) ones."""

from __future__ import annotations

from collections import Counter

import pytest

from mesospaas.errors import InvalidSpec
from mesospaas.model import AffinityType, AppAffinity, app_id
from mesospaas.placement import NoMatchReason
from tests.core.builders import an_agent, an_app, an_instance, an_offer, hosts_of, pending, place_all

DB = an_app("/db").build()
CACHE = an_app("/cache").build()


def db_on(*hosts: str) -> list:  # type: ignore[type-arg]
    return [an_instance(DB).on(h).running().build() for h in hosts]


# -- hard rules, table ------------------------------------------------------------------------------------

FIT = None
UNMET = NoMatchReason.AFFINITY_UNMET


@pytest.mark.parametrize(
    ("rule", "db_agents", "offer", "expected"),
    [
        ("next_to", ["h1"], an_offer().on("h1"), FIT),
        ("next_to", ["h1"], an_offer().on("h2"), UNMET),
        ("next_to", [], an_offer().on("h1"), UNMET),
        ("away_from", ["h1"], an_offer().on("h1"), UNMET),
        ("away_from", ["h1"], an_offer().on("h2"), FIT),
        ("away_from", [], an_offer().on("h1"), FIT),
    ],
)
def test_required_rules_on_hostname(rule: str, db_agents: list[str], offer, expected) -> None:  # type: ignore[no-untyped-def]
    app = getattr(an_app("/web"), rule)("/db").build()
    result = place_all([app, DB], [offer.build()], waiting=pending(app, 1), existing=db_on(*db_agents))
    if expected is FIT:
        assert len(result.launches) == 1
    else:
        assert result.diagnostics[app.id].rejects == {expected: 1}


def zone(name: str | None) -> object:
    return an_agent(f"db-{name}", **({"zone": name} if name else {}))


@pytest.mark.parametrize(
    ("rule", "db_zone", "offer_zone", "expected"),
    [
        ("next_to", "a", "a", FIT),
        ("next_to", "a", "b", UNMET),
        ("next_to", "a", None, UNMET),  # an offer without the field is never next to anything
        ("away_from", "a", "a", UNMET),
        ("away_from", "a", "b", FIT),
        ("away_from", "a", None, FIT),  # ... and never shares a value
        ("away_from", None, "a", FIT),  # db instances lacking the field do not count
    ],
)
def test_required_rules_on_an_attribute(rule: str, db_zone: str | None, offer_zone: str | None, expected) -> None:  # type: ignore[no-untyped-def]
    app = getattr(an_app("/web"), rule)("/db", "zone").build()
    db = an_instance(DB).on(zone(db_zone)).running().build()  # type: ignore[arg-type]
    offer = an_offer().on("web-host")
    if offer_zone:
        offer.attr("zone", offer_zone)
    result = place_all([app, DB], [offer.build()], waiting=pending(app, 1), existing=[db])
    if expected is FIT:
        assert len(result.launches) == 1
    else:
        assert result.diagnostics[app.id].rejects == {expected: 1}
        kind = "AFFINITY" if rule == "next_to" else "ANTI_AFFINITY"
        assert dict(result.diagnostics[app.id].rejects_by_rule) == {f"{kind}(/db on zone, REQUIRED)": 1}


def test_affinity_follows_the_other_app_placed_earlier_in_the_same_round() -> None:
    db = an_app("/db").instances(1).build()
    web = an_app("/web").instances(3).next_to("/db").build()
    offers = [an_offer().on(f"h{i}").build() for i in range(5)]
    result = place_all([db, web], offers)
    (db_host,) = hosts_of(result, db)
    assert hosts_of(result, web) == [db_host] * 3


def test_anti_affinity_avoids_the_other_app_placed_earlier_in_the_same_round() -> None:
    cache = an_app("/cache").instances(2).unique("hostname").build()
    web = an_app("/web").instances(4).away_from("/cache").build()
    offers = [an_offer().on(f"h{i}").build() for i in range(4)]
    result = place_all([cache, web], offers)
    assert not set(hosts_of(result, cache)) & set(hosts_of(result, web))
    assert len(result.launches) == 6


def test_self_anti_affinity_on_hostname_behaves_like_unique() -> None:
    app = an_app("/web").instances(3).away_from("/web").build()
    result = place_all(app, [an_offer().on("h1").build(), an_offer().on("h2").build()])
    assert sorted(hosts_of(result)) == ["h1", "h2"]


def test_self_affinity_lets_the_first_instance_anchor_the_rest() -> None:
    app = an_app("/web").instances(4).next_to("/web").build()
    result = place_all(app, [an_offer().on(f"h{i}").build() for i in range(4)])
    assert len(set(hosts_of(result))) == 1 and len(result.launches) == 4


def test_rules_combine_with_constraints() -> None:
    app = an_app("/web").instances(2).next_to("/db", "zone").unique("hostname").build()
    db = an_instance(DB).on(an_agent("d", zone="a")).running().build()
    offers = [an_offer().on(f"h{i}").attr("zone", "a" if i < 3 else "b").build() for i in range(6)]
    result = place_all([app, DB], offers, waiting=pending(app), existing=[db])
    assert {l.agent.field_value("zone") for l in result.launches} == {"a"}
    assert len(set(hosts_of(result))) == 2


# -- soft rules ---------------------------------------------------------------------------------------------


def test_preferred_anti_affinity_prefers_zones_without_the_other_app() -> None:
    app = an_app("/api").instances(4).away_from("/web", "zone", weight=80).build()
    web = an_app("/web").build()
    existing = [an_instance(web).on(an_agent("w", zone="a")).running().build()]
    offers = [an_offer().on(f"{z}{i}").attr("zone", z).build() for z in ("a", "b") for i in range(4)]
    result = place_all([app, web], offers, waiting=pending(app), existing=existing)
    assert Counter(l.agent.field_value("zone") for l in result.launches) == {"b": 4}


def test_preferred_rules_are_only_preferences() -> None:
    app = an_app("/api").instances(2).away_from("/web", "zone", weight=80).build()
    web = an_app("/web").build()
    existing = [an_instance(web).on(an_agent("w", zone="a")).running().build()]
    offers = [an_offer().on("a1").attr("zone", "a").build()]
    result = place_all([app, web], offers, waiting=pending(app), existing=existing)
    assert len(result.launches) == 2


def test_preferred_affinity_prefers_hosts_running_the_other_app() -> None:
    app = an_app("/web").next_to("/db", weight=50).build()
    offers = [an_offer().on(f"h{i}").build() for i in range(6)]
    for seed in range(5):
        result = place_all([app, DB], offers, waiting=pending(app, 1), existing=db_on("h4"), seed=seed)
        assert hosts_of(result) == ["h4"]


def test_a_preference_never_outweighs_spreading_the_app_itself() -> None:
    app = an_app("/web").instances(2).next_to("/db", weight=100).build()
    offers = [an_offer().on(f"h{i}").build() for i in range(3)]
    result = place_all([app, DB], offers, waiting=pending(app), existing=db_on("h0"))
    assert sorted(hosts_of(result))[0] == "h0" and len(set(hosts_of(result))) == 2


def test_weights_are_bounded() -> None:
    with pytest.raises(InvalidSpec):
        AppAffinity(app_id("/db"), AffinityType.AFFINITY, weight=0)
