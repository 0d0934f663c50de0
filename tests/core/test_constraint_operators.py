"""Marathon's constraint operators, one table per operator (reference §3 and Marathon's Constraints.scala).

Each row: the constraint, where the app's instances are already placed, the offer, and whether one more
instance fits on it. "Placed" instances are running; offers are big enough for anything.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from mesospaas.model import AgentInfo, Condition
from mesospaas.placement import NoMatchReason
from tests.core.builders import AppBuilder, OfferBuilder, an_agent, an_app, an_instance, an_offer, pending, place_all

FIT = None
NO = NoMatchReason.UNFULFILLED_CONSTRAINT


def verdict(
    app_builder: AppBuilder, offer: OfferBuilder, placed_on: Sequence[AgentInfo] = ()
) -> NoMatchReason | None:
    """None when one more instance is launched on ``offer``, otherwise the reason it was declined."""
    app = app_builder.build()
    existing = [an_instance(app).on(agent).running(since=n).build() for n, agent in enumerate(placed_on)]
    result = place_all(app, [offer.build()], waiting=pending(app, 1), existing=existing)
    if result.launches:
        return None
    rejects = result.diagnostics[app.id].rejects
    assert sum(rejects.values()) == 1, rejects
    return next(iter(rejects))


def rack(name: str) -> AgentInfo:
    return an_agent(f"host-in-{name}-{id(name)}", rack=name)


def host(name: str) -> AgentInfo:
    return an_agent(name)


NO_RACK = an_agent("host-without-rack")


# -- UNIQUE -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "placed_on", "offer", "expected"),
    [
        ("hostname", [], an_offer().on("h1"), FIT),
        ("hostname", [host("h1")], an_offer().on("h1"), NO),
        ("hostname", [host("h1")], an_offer().on("h2"), FIT),
        ("@hostname", [host("h1")], an_offer().on("h1"), NO),
        ("rack", [rack("r1")], an_offer().attr("rack", "r1"), NO),
        ("rack", [rack("r1")], an_offer().attr("rack", "r2"), FIT),
        ("rack", [NO_RACK], an_offer().attr("rack", "r1"), FIT),
        ("rack", [], an_offer(), NO),
        ("level", [an_agent("x", level="1")], an_offer().attr("level", 1.0), NO),
        ("disks", [an_agent("x", disks="{a,b}")], an_offer().set_attr("disks", "b", "a"), NO),
        ("@zone", [], an_offer().zone("z1"), FIT),
        ("@zone", [], an_offer(), NO),
    ],
)
def test_unique(field: str, placed_on: list[AgentInfo], offer: OfferBuilder, expected: object) -> None:
    assert verdict(an_app().unique(field), offer, placed_on) is expected


# -- CLUSTER ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "placed_on", "offer", "expected"),
    [
        ("rack", "r1", [], an_offer().attr("rack", "r1"), FIT),
        ("rack", "r1", [], an_offer().attr("rack", "r2"), NO),
        ("rack", "r1", [], an_offer(), NO),
        ("hostname", "h1", [], an_offer().on("h1"), FIT),
        ("hostname", "h1", [], an_offer().on("h2"), NO),
        ("rack", None, [], an_offer().attr("rack", "r7"), FIT),
        ("rack", None, [rack("r1")], an_offer().attr("rack", "r1"), FIT),
        ("rack", None, [rack("r1")], an_offer().attr("rack", "r2"), NO),
        ("rack", None, [rack("r1"), rack("r2")], an_offer().attr("rack", "r2"), NO),  # the first placed decides
        ("rack", None, [NO_RACK], an_offer().attr("rack", "r1"), NO),
        ("hostname", None, [host("h1")], an_offer().on("h1"), FIT),
        ("hostname", None, [host("h1")], an_offer().on("h2"), NO),
        ("level", "2", [], an_offer().attr("level", 2.0), FIT),
    ],
)
def test_cluster(
    field: str, value: str | None, placed_on: list[AgentInfo], offer: OfferBuilder, expected: object
) -> None:
    assert verdict(an_app().cluster(field, value), offer, placed_on) is expected


# -- GROUP_BY -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("placed_on", "offer", "expected"),
    [
        ([], an_offer().attr("rack", "r1"), FIT),
        ([rack("r1")], an_offer().attr("rack", "r1"), FIT),  # the only group is the smallest one
        ([rack("r1")], an_offer().attr("rack", "r2"), FIT),  # a new group is always welcome
        ([rack("r1"), rack("r1"), rack("r2")], an_offer().attr("rack", "r1"), NO),
        ([rack("r1"), rack("r1"), rack("r2")], an_offer().attr("rack", "r2"), FIT),
        ([rack("r1"), rack("r1"), rack("r2")], an_offer().attr("rack", "r3"), FIT),
        ([rack("r1"), rack("r1"), NO_RACK], an_offer().attr("rack", "r1"), NO),  # agents without the field form a group
        ([rack("r1")], an_offer(), NO),
    ],
)
def test_group_by_without_a_value(placed_on: list[AgentInfo], offer: OfferBuilder, expected: object) -> None:
    assert verdict(an_app().instances(6).group_by("rack"), offer, placed_on) is expected


@pytest.mark.parametrize(
    ("instances", "placed_on", "offer", "expected"),
    [
        (6, [rack("r1"), rack("r2")], an_offer().attr("rack", "r3"), FIT),
        (6, [rack("r1"), rack("r2"), rack("r3")], an_offer().attr("rack", "r4"), NO),  # 3 groups wanted, no more
        (6, [rack("r1"), rack("r1"), rack("r2")], an_offer().attr("rack", "r1"), NO),  # r1 holds its share (2)
        (6, [rack("r1"), rack("r1"), rack("r2")], an_offer().attr("rack", "r2"), FIT),
        (6, [rack("r1")], an_offer().attr("rack", "r1"), FIT),  # a group may fill before others start
        (7, [rack("r1"), rack("r1")], an_offer().attr("rack", "r1"), FIT),  # 7 = 3 * 2 + 1: one group may hold 3
        (7, [rack("r1")] * 3 + [rack("r2")] * 2, an_offer().attr("rack", "r2"), NO),  # the extra one is used up
        (6, [], an_offer(), NO),
    ],
)
def test_group_by_with_a_group_count(
    instances: int, placed_on: list[AgentInfo], offer: OfferBuilder, expected: object
) -> None:
    assert verdict(an_app().instances(instances).group_by("rack", 3), offer, placed_on) is expected


def test_group_by_three_with_two_racks_places_their_share_and_waits_for_a_third() -> None:
    app = an_app().instances(6).group_by("rack", 3).build()
    result = place_all(app, [an_offer().attr("rack", "r1").build(), an_offer().attr("rack", "r2").build()])
    assert len(result.launches) == 4
    assert len(result.unplaced) == 2
    assert result.diagnostics[app.id].rejects == {NO: 2}


# -- LIKE / UNLIKE ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "regex", "offer", "expected"),
    [
        ("hostname", "web-.*", an_offer().on("web-1"), FIT),
        ("hostname", "web-.*", an_offer().on("db-1"), NO),
        ("hostname", "web", an_offer().on("web-1"), NO),  # full match, as Java's String.matches
        ("rack", "r[0-9]", an_offer().attr("rack", "r1"), FIT),
        ("rack", "r", an_offer().attr("rack", "r1"), NO),
        ("rack", "r1|r2", an_offer().attr("rack", "r2"), FIT),
        ("rack", "r.*", an_offer(), NO),
        ("level", "1", an_offer().attr("level", 1.0), FIT),
        ("level", "0\\.5", an_offer().attr("level", 0.5), FIT),
        ("ports", "\\[100-200,.*", an_offer().ranges_attr("ports", (300, 400), (100, 200)), FIT),
        ("disks", "\\{a,b\\}", an_offer().set_attr("disks", "b", "a"), FIT),
        ("@region", "eu-.*", an_offer().region("eu-west"), FIT),
    ],
)
def test_like(field: str, regex: str, offer: OfferBuilder, expected: object) -> None:
    assert verdict(an_app().like(field, regex), offer) is expected


@pytest.mark.parametrize(
    ("field", "regex", "offer", "expected"),
    [
        ("hostname", "db-.*", an_offer().on("web-1"), FIT),
        ("hostname", "db-.*", an_offer().on("db-1"), NO),
        ("rack", "r1", an_offer().attr("rack", "r1"), NO),
        ("rack", "r1", an_offer().attr("rack", "r2"), FIT),
        ("rack", "r", an_offer().attr("rack", "r1"), FIT),  # not a full match
        ("rack", "r.*", an_offer(), FIT),  # a missing attribute passes UNLIKE only
        ("level", "1", an_offer().attr("level", 1.0), NO),
    ],
)
def test_unlike(field: str, regex: str, offer: OfferBuilder, expected: object) -> None:
    assert verdict(an_app().unlike(field, regex), offer) is expected


# -- MAX_PER ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "limit", "placed_on", "offer", "expected"),
    [
        ("rack", 2, [], an_offer().attr("rack", "r1"), FIT),
        ("rack", 2, [rack("r1")], an_offer().attr("rack", "r1"), FIT),
        ("rack", 2, [rack("r1"), rack("r1")], an_offer().attr("rack", "r1"), NO),
        ("rack", 2, [rack("r1"), rack("r1")], an_offer().attr("rack", "r2"), FIT),
        ("rack", 2, [], an_offer(), NO),
        ("hostname", 1, [host("h1")], an_offer().on("h1"), NO),
        ("hostname", 2, [host("h1")], an_offer().on("h1"), FIT),
        ("level", 1, [an_agent("x", level="3")], an_offer().attr("level", 3.0), NO),
    ],
)
def test_max_per(
    field: str, limit: int, placed_on: list[AgentInfo], offer: OfferBuilder, expected: object
) -> None:
    assert verdict(an_app().max_per(field, limit), offer, placed_on) is expected


# -- IS -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "offer", "expected"),
    [
        ("rack", "r1", an_offer().attr("rack", "r1"), FIT),
        ("rack", "r1", an_offer().attr("rack", "r10"), NO),
        ("rack", "r1", an_offer(), NO),
        ("hostname", "h1", an_offer().on("h1"), FIT),
        ("level", "0.80", an_offer().attr("level", 0.8), FIT),  # scalar values compare after 0.### formatting
        ("level", "1", an_offer().attr("level", 1.0), FIT),
        ("level", "1.0", an_offer().attr("level", 1.0005), FIT),
        ("level", "0.8", an_offer().attr("level", "0.80"), FIT),
        ("level", "0.9", an_offer().attr("level", 0.8), NO),
        ("@zone", "z1", an_offer().zone("z1"), FIT),
    ],
)
def test_is(field: str, value: str, offer: OfferBuilder, expected: object) -> None:
    assert verdict(an_app().is_(field, value), offer) is expected


# -- what counts as placed ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "counts"),
    [
        (Condition.STAGING, True),
        (Condition.RUNNING, True),
        (Condition.KILLING, True),
        (Condition.UNREACHABLE, False),
        (Condition.FAILED, False),
        (Condition.KILLED, False),
    ],
)
def test_only_reachable_non_terminal_instances_count_as_placed(condition: Condition, counts: bool) -> None:
    app = an_app().unique("hostname").build()
    existing = an_instance(app).on("h1").condition(condition).build()
    result = place_all(app, [an_offer().on("h1").build()], waiting=pending(app, 1), existing=[existing])
    assert (not result.launches) is counts


def test_all_constraints_must_hold() -> None:
    app = an_app().like("rack", "r.*").unique("hostname")
    assert verdict(app, an_offer().on("h1").attr("rack", "r1"), [host("h1")]) is NO
    assert verdict(app, an_offer().on("h2").attr("rack", "r1"), [host("h1")]) is FIT


# -- every attribute type -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offer", "text"),
    [
        (an_offer().attr("a", "x1"), "x1"),
        (an_offer().attr("a", 2.50), "2.5"),
        (an_offer().ranges_attr("a", (300, 400), (100, 200)), "[100-200,300-400]"),
        (an_offer().set_attr("a", "c", "a", "b"), "{a,b,c}"),
    ],
)
def test_every_attribute_type_is_compared_as_its_marathon_string(offer: OfferBuilder, text: str) -> None:
    assert verdict(an_app().cluster("a", text), offer) is FIT
    assert verdict(an_app().cluster("a", text + "0"), offer) is NO
    escaped = "".join("\\" + c if c in "[]{}." else c for c in text)
    assert verdict(an_app().like("a", escaped), offer) is FIT
    assert verdict(an_app().unlike("a", escaped), offer) is NO
    placed = an_offer().on("other")
    placed.attr("a", offer.agent_info().attributes[0].value)
    assert verdict(an_app().unique("a"), offer, [placed.agent_info()]) is NO
    assert verdict(an_app().max_per("a", 2), offer, [placed.agent_info()]) is FIT


def test_a_waiting_unique_app_explains_every_offer() -> None:
    app = an_app().instances(3).unique("hostname").build()
    result = place_all(app, [an_offer().on("h1").build(), an_offer().on("h2").build()])
    diagnostics = result.diagnostics[app.id]
    assert (diagnostics.launched, diagnostics.unplaced) == (2, 1)
    assert diagnostics.rejects == {NO: 2}
    assert dict(diagnostics.rejects_by_rule) == {"hostname:UNIQUE": 2}
