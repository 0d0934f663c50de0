"""Storage codecs round-trip every core type the scheduler persists, unchanged."""

from __future__ import annotations

import pytest

from mesospaas.launch.backoff import Backoff
from mesospaas.model import (AffinityMode, AffinityType, AgentId, AgentInfo, AppAffinity, AppId, AppVersion,
                             Attribute, Condition, Goal, Instance, InstanceId, ItemSet, Ranges, Scalar, Text,
                             parse_constraint)
from mesospaas.model.app import (AppSpec, CustomExecutor, FetchUri, HealthCheckSpec, KillSelection,
                                 PlacementStrategy, PortDefinition, UnreachableDisabled, UnreachableEnabled,
                                 UpgradeStrategy)
from scheduler.codecs import CodecError, decode, encode


def rich_app() -> AppSpec:
    constraint = parse_constraint(["rack", "GROUP_BY", "3"])
    assert not isinstance(constraint, str)
    return AppSpec(
        id=AppId("/prod/web"), version=AppVersion("2026-11-22T10:00:00.000Z"), cmd="python3 -m http.server $PORT0",
        env={"A": "1", "B": "two"}, labels={"HAPROXY_GROUP": "external"}, instances=5, cpus=0.25, mem=64.0,
        disk=1.0, gpus=0, constraints=(constraint,),
        port_definitions=(PortDefinition(port=0, name="http"), PortDefinition(port=0, name="admin")),
        fetch=(FetchUri("http://example.invalid/app.tgz", extract=True),), backoff_seconds=2.0,
        backoff_factor=1.5, kill_selection=KillSelection.OLDEST_FIRST,
        unreachable_strategy=UnreachableDisabled(), task_kill_grace_period_seconds=7.5,
        executor=CustomExecutor("/opt/exec"), upgrade_strategy=UpgradeStrategy(0.5, 0.25),
        health_checks=(HealthCheckSpec(protocol="MESOS_HTTP", path="/health"),),
        affinity=(AppAffinity(AppId("/db"), AffinityType.ANTI_AFFINITY, "rack", AffinityMode.PREFERRED, 80),),
        placement_strategy=PlacementStrategy.BINPACK)


def test_app_round_trips() -> None:
    app = rich_app()
    assert decode(AppSpec, encode(app)) == app
    plain = AppSpec(id=AppId("/a"))
    assert decode(AppSpec, encode(plain)) == plain
    assert decode(AppSpec, encode(AppSpec(id=AppId("/b"), unreachable_strategy=UnreachableEnabled(5, 10)))) \
        == AppSpec(id=AppId("/b"), unreachable_strategy=UnreachableEnabled(5, 10))


def test_instance_round_trips_with_every_attribute_type() -> None:
    agent = AgentInfo(AgentId("S1"), "127.0.0.2",
                      attributes=(Attribute("rack", Text("r1")), Attribute("level", Scalar(10.0)),
                                  Attribute("ports", Ranges(((1, 5), (7, 9)))),
                                  Attribute("tags", ItemSet(("a", "b")))), zone="z1")
    instance = Instance(id=InstanceId("prod_web.instance-1"), app_id=AppId("/prod/web"),
                        app_version=AppVersion("v1"), goal=Goal.STOPPED, condition=Condition.RUNNING,
                        incarnation=3, agent=agent, host_ports=(31000, 31001), since=5.0, staged_at=1.0,
                        started_at=2.5, healthy=True)
    assert decode(Instance, encode(instance)) == instance


def test_backoff_round_trips() -> None:
    backoff = Backoff(AppId("/a"), AppVersion("v"), failures=3, delay=2.25, last_failure_at=100.0)
    assert decode(Backoff, encode(backoff)) == backoff


def test_defaults_are_left_out() -> None:
    assert encode(AppSpec(id=AppId("/a"))) == b'{"id":"/a"}'


def test_corrupt_data_is_an_error_not_a_wrong_value() -> None:
    with pytest.raises(CodecError):
        decode(AppSpec, b"not json")
    with pytest.raises(CodecError):
        decode(AppSpec, b'{"id": "/a", "instances": "many"}')
    with pytest.raises(CodecError):
        decode(Instance, b'{"id": "x", "app_id": "/a", "app_version": "v", "goal": "Sideways"}')
