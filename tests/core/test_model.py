"""Domain values: ids, attribute strings, conditions, constraint parsing, instance transitions."""

from __future__ import annotations

import random

import pytest

from mesospaas.errors import InvalidId, InvalidSpec
from mesospaas.model import (
    AgentId,
    AgentInfo,
    Attribute,
    Condition,
    Constraint,
    Goal,
    ItemSet,
    Operator,
    Ranges,
    Scalar,
    TaskId,
    Text,
    UnreachableEnabled,
    app_id,
    condition_from_mesos,
    launched,
    mesos_state,
    parse_constraint,
    parse_task_id,
    random_instance_ids,
    scheduled,
    task_id,
    with_task_status,
)
from mesospaas.model.app import UpgradeStrategy
from mesospaas.model.attributes import format_scalar, marathon_string
from mesospaas.model.ids import app_id_problem, app_of_instance, safe_path
from tests.core.builders import an_app, an_instance

# -- ids ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("/shop/web", "/shop/web"), ("shop/web", "/shop/web"), ("/a/./b/../c", "/a/c"), ("/x.y/z", "/x.y/z")],
)
def test_app_ids_are_canonical_absolute_paths(text: str, canonical: str) -> None:
    assert app_id(text) == canonical


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("/", "Path must contain at least one path element"),
        ("/Upper", "must fully match regular expression"),
        ("/a_b", "must fully match regular expression"),
        ("/-a", "must fully match regular expression"),
        ("/web/tasks", "must not end with any of the following reserved keywords"),
    ],
)
def test_invalid_app_ids_get_marathons_messages(text: str, problem: str) -> None:
    message = app_id_problem(text)
    assert message is not None and message.startswith(problem)
    with pytest.raises(InvalidId):
        app_id(text)


def test_instance_and_task_ids_follow_marathon_1_7_format() -> None:
    make = random_instance_ids(random.Random(1))
    instance = make(app_id("/shop/web"))
    assert instance.startswith("shop_web.instance-")
    assert app_of_instance(instance) == "/shop/web"
    task = task_id(instance, 3)
    assert task == f"{instance}._app.3"
    assert parse_task_id(task) == (instance, 3)
    assert safe_path(app_id("/a/b/c")) == "a_b_c"


def test_instance_ids_are_replayable_from_a_seed() -> None:
    first = random_instance_ids(random.Random(42))
    second = random_instance_ids(random.Random(42))
    web = app_id("/web")
    assert [first(web) for _ in range(3)] == [second(web) for _ in range(3)]


def test_malformed_task_ids_are_rejected() -> None:
    with pytest.raises(InvalidId):
        parse_task_id(TaskId("web.1234"))
    with pytest.raises(InvalidId):
        task_id(random_instance_ids(random.Random(1))(app_id("/web")), 0)


# -- attribute strings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "text"),
    [(1.0, "1"), (0.8, "0.8"), (0.8000, "0.8"), (1.0005, "1"), (2.5, "2.5"), (0.0625, "0.062"), (1234.5, "1234.5")],
)
def test_scalars_format_as_java_0_hash_hash_hash_half_even(number: float, text: str) -> None:
    assert format_scalar(number) == text


def test_attribute_values_become_marathon_strings() -> None:
    assert marathon_string(Text("r1")) == "r1"
    assert marathon_string(Scalar(3.0)) == "3"
    assert marathon_string(Ranges(((300, 400), (100, 200)))) == "[100-200,300-400]"
    assert marathon_string(ItemSet(("c", "a", "b"))) == "{a,b,c}"


def test_agent_fields_resolve_hostname_fault_domain_and_attributes() -> None:
    agent = AgentInfo(
        AgentId("a1"), "h1", (Attribute("rack", Text("r1")), Attribute("hostname", Text("shadowed"))), "eu", "eu-1"
    )
    assert agent.field_value("hostname") == "h1"
    assert agent.field_value("@hostname") == "h1"
    assert agent.field_value("@region") == "eu"
    assert agent.field_value("@zone") == "eu-1"
    assert agent.field_value("rack") == "r1"
    assert agent.field_value("missing") is None


# -- constraints ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (["rack", "unique"], Constraint("rack", Operator.UNIQUE)),
        (["rack", "GROUP_BY", "3"], Constraint("rack", Operator.GROUP_BY, "3")),
        (["hostname", "MAX_PER", "2"], Constraint("hostname", Operator.MAX_PER, "2")),
        (["level", "IS", "0.8"], Constraint("level", Operator.IS, "0.8")),
        (["rack"], "Each constraint must have either 2 or 3 fields"),
        (["rack", "NEAR"], "operator must be one of the following UNIQUE, CLUSTER, GROUP_BY, LIKE, MAX_PER, UNLIKE or IS"),
        (["rack", "UNIQUE", "x"], "UNIQUE does not accept a value"),
        (["rack", "GROUP_BY", "x"], "GROUP BY must define an integer value or else no value at all"),
        (["rack", "MAX_PER"], "MAX_PER requires an integer value"),
        (["rack", "LIKE"], "LIKE and UNLIKE require a non-empty, regular expression value"),
        (["rack", "LIKE", "("], "'(' is not a valid regular expression"),
        (["rack", "IS", "a b"], "IS only supports Mesos text and float values"),
    ],
)
def test_constraints_parse_with_marathons_validation_messages(parts: list[str], expected: object) -> None:
    parsed = parse_constraint(parts)
    if isinstance(expected, str):
        assert isinstance(parsed, str) and parsed.startswith(expected)
    else:
        assert parsed == expected


def test_constraints_cannot_be_built_invalid() -> None:
    with pytest.raises(InvalidSpec):
        Constraint("rack", Operator.MAX_PER)


def test_app_spec_guards_its_invariants() -> None:
    with pytest.raises(InvalidSpec, match="inactiveAfterSeconds"):
        UnreachableEnabled(600, 300)
    with pytest.raises(InvalidSpec):
        UpgradeStrategy(1.5, 0)
    with pytest.raises(InvalidSpec, match="constraints must be unique"):
        an_app("/x").unique("hostname").unique("hostname").build()
    with pytest.raises(InvalidSpec):
        an_app("/x").cpus(-1).build()


def test_app_specs_are_immutable() -> None:
    app = an_app("/x").env(A="1").build()
    with pytest.raises(TypeError):
        app.env["A"] = "2"  # type: ignore[index]
    assert app.accepted_roles == frozenset({"*"})
    assert an_app("/y").role("prod").build().accepted_roles == frozenset({"*", "prod"})


# -- conditions -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "reason", "condition"),
    [
        ("TASK_STAGING", None, Condition.STAGING),
        ("TASK_STARTING", None, Condition.STARTING),
        ("TASK_RUNNING", None, Condition.RUNNING),
        ("TASK_KILLING", None, Condition.KILLING),
        ("TASK_KILLED", None, Condition.KILLED),
        ("TASK_FINISHED", None, Condition.FINISHED),
        ("TASK_FAILED", None, Condition.FAILED),
        ("TASK_ERROR", None, Condition.ERROR),
        ("TASK_DROPPED", None, Condition.DROPPED),
        ("TASK_UNREACHABLE", None, Condition.UNREACHABLE),
        ("TASK_GONE", None, Condition.GONE),
        ("TASK_GONE_BY_OPERATOR", None, Condition.GONE_BY_OPERATOR),
        ("TASK_UNKNOWN", None, Condition.UNKNOWN),
        ("TASK_LOST", "REASON_AGENT_DISCONNECTED", Condition.UNREACHABLE),
        ("TASK_LOST", "REASON_AGENT_REMOVED", Condition.UNREACHABLE),
        ("TASK_LOST", "REASON_RECONCILIATION", Condition.UNKNOWN),
        ("TASK_LOST", "REASON_INVALID_OFFERS", Condition.GONE),
        ("TASK_SOMETHING_NEW", None, Condition.UNKNOWN),
    ],
)
def test_every_mesos_task_state_maps_to_a_condition(state: str, reason: str | None, condition: Condition) -> None:
    assert condition_from_mesos(state, reason) is condition


def test_conditions_without_a_mesos_state_show_as_staging() -> None:
    assert mesos_state(Condition.SCHEDULED) == "TASK_STAGING"
    assert mesos_state(Condition.PROVISIONED) == "TASK_STAGING"
    assert mesos_state(Condition.UNREACHABLE) == "TASK_UNREACHABLE"


# -- instance transitions ---------------------------------------------------------------------------------


def test_an_instance_keeps_its_id_across_relaunches_and_ignores_stale_updates() -> None:
    app = an_app("/web").build()
    instance = scheduled(random_instance_ids(random.Random(3))(app.id), app.id, app.version, now=0)
    assert instance.task_id is None and instance.is_launchable
    agent = AgentInfo(AgentId("a1"), "h1")
    first = launched(instance, agent, (31000,), now=1)
    assert first.incarnation == 1 and first.condition is Condition.PROVISIONED
    first_task = first.task_id
    assert first_task is not None
    running = with_task_status(first, first_task, "TASK_RUNNING", None, now=2)
    assert running.condition is Condition.RUNNING and running.started_at == 2
    failed = with_task_status(running, first_task, "TASK_FAILED", None, now=3)
    assert failed.is_launchable
    second = launched(failed, agent, (31001,), now=4)
    assert second.id == instance.id and second.incarnation == 2
    stale = with_task_status(second, first_task, "TASK_KILLED", None, now=5)
    assert stale is second


def test_unreachable_since_is_kept_until_the_task_is_reachable_again() -> None:
    app = an_app("/web").build()
    instance = an_instance(app).on("h1").running(since=0).build()
    task = instance.task_id
    assert task is not None
    lost = with_task_status(instance, task, "TASK_UNREACHABLE", None, now=10)
    again = with_task_status(lost, task, "TASK_UNREACHABLE", None, now=20)
    assert again.unreachable_since == 10
    back = with_task_status(again, task, "TASK_RUNNING", None, now=30)
    assert back.unreachable_since is None and back.goal is Goal.RUNNING
