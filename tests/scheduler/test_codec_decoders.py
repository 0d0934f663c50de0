"""The compiled decoders (``scheduler.codecs.decoder``) decide exactly as the general walk (``from_jsonable``).

Every stored type the runtime loads is encoded, then every position of its JSON is replaced, one at a time,
by values of the wrong (and of the right) kinds: wherever one of the two decodings gives a value, the other
gives an equal one; wherever one refuses, so does the other, and ``decode`` names the place.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest

from mesospaas.deploy import assign_versions, plan
from mesospaas.deploy.supervision import DeploymentState, started
from mesospaas.launch.backoff import Backoff
from mesospaas.model import AgentId, AgentInfo, AppId, AppVersion, Attribute, Condition, Goal, Instance, \
    InstanceId, ItemSet, Ranges, Scalar, Text
from mesospaas.model.app import AppSpec, Container, HostVolume, UnreachableDisabled
from mesospaas.model.deployment import DeploymentId, DeploymentPlan, random_deployment_ids
from mesospaas.model.group import Group
from mesospaas.model.group_parts import GroupNode, split
from scheduler.codecs import CodecError, decode, decoder, encode, from_jsonable
from scheduler.runtime import FinishedDeployment, RunningDeployment
from tests.scheduler.test_codecs import rich_app

WRONG = [None, True, 0, 2.5, -1, "", "x", "RUNNING", [], [1], ["a", "b"], {}, {"@type": "Nope"},
         {"@type": "UnreachableEnabled"}, {"id": "/a"}]


def stored_values() -> list[tuple[type, Any]]:
    app = rich_app()
    other = AppSpec(id=AppId("/prod/db"), cmd="sleep 1", instances=2, unreachable_strategy=UnreachableDisabled(),
                    container=Container(docker_image="busybox", parameters=(("ulimit", "nofile=1"),),
                                        volumes=(HostVolume("/data", "data"),)), labels={"a": "b"})
    original = assign_versions(Group.of(), Group.of([app]), 1.0)
    target = assign_versions(original, Group.of([app, other]), 2.0)
    deployment = plan(original, target, 2.0, random_deployment_ids(random.Random(3)))
    assert isinstance(deployment, DeploymentPlan)
    agent = AgentInfo(AgentId("S1"), "127.0.0.2",
                      attributes=(Attribute("rack", Text("r1")), Attribute("level", Scalar(10.0)),
                                  Attribute("ports", Ranges(((1, 5), (7, 9)))), Attribute("tags", ItemSet(("a",)))),
                      zone="z1")
    instance = Instance(id=InstanceId("prod_web.instance-1"), app_id=AppId("/prod/web"),
                        app_version=AppVersion("v1"), goal=Goal.STOPPED, condition=Condition.RUNNING,
                        incarnation=3, agent=agent, host_ports=(31000, 31001), since=5.0, staged_at=1.0,
                        started_at=2.5, healthy=True, ip_addresses=("10.0.0.1",))
    nodes, _ = split(target)
    finished = FinishedDeployment(DeploymentId("d-1"), "v", (AppId("/a"),), DeploymentState.FAILED, 3.0,
                                  reason="crash loop", rollback_id=DeploymentId("d-2"))
    return [(AppSpec, app), (AppSpec, other), (Instance, instance), (Group, target),
            (RunningDeployment, RunningDeployment(deployment, 1, started(2.0))), (FinishedDeployment, finished),
            (Backoff, Backoff(AppId("/a"), AppVersion("v"), failures=3, delay=2.25, last_failure_at=100.0)),
            *((GroupNode, node) for node in nodes.values())]


def positions(data: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(data, dict):
        for key, item in data.items():
            yield from positions(item, (*path, key))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            yield from positions(item, (*path, index))


def replaced(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = dict(data) if isinstance(data, dict) else list(data)
    copy[path[0]] = replaced(data[path[0]], path[1:], value)
    return copy


def outcome(decode_with: Any, cls: type, data: Any) -> tuple[str, Any]:
    try:
        return "value", decode_with(cls, data)
    except CodecError:
        return "refused", None


def compiled(cls: type, data: Any) -> Any:
    return decoder(cls)(data)


@pytest.mark.parametrize("cls, value", stored_values(), ids=lambda v: getattr(v, "__name__", ""))
def test_compiled_and_general_decoding_agree_on_every_mutation(cls: type, value: Any) -> None:
    data = json.loads(encode(value))
    assert compiled(cls, data) == value == from_jsonable(cls, data)
    refused = 0
    for path in positions(data):
        for wrong in WRONG:
            mutated = replaced(data, path, wrong)
            fast, general = outcome(compiled, cls, mutated), outcome(from_jsonable, cls, mutated)
            assert fast == general, (path, wrong)
            if fast[0] == "value":
                assert type(fast[1]) is type(general[1]) and decode(cls, json.dumps(mutated).encode()) == fast[1]
            else:
                refused += 1
                with pytest.raises(CodecError, match=r"\$"):  # decode names the place (a JSON path from $)
                    decode(cls, json.dumps(mutated).encode())
    assert refused  # the mutations did reach checks that refuse


def test_recursive_types_decode_at_any_depth() -> None:
    apps = [AppSpec(id=AppId(f"/a/b/c/d/e/app{n}")) for n in range(3)] + [AppSpec(id=AppId("/top"))]
    root = assign_versions(Group.of(), Group.of(apps), 1.0)
    assert decode(Group, encode(root)) == root


def test_instances_on_one_agent_share_its_decoded_agent() -> None:
    agent = AgentInfo(AgentId("S1"), "10.0.0.1", attributes=(Attribute("rack", Text("r1")),))
    moved = AgentInfo(AgentId("S1"), "10.0.0.1", attributes=(Attribute("rack", Text("r2")),))
    first, second, third = (Instance(id=InstanceId(f"a.instance-{n}"), app_id=AppId("/a"),
                                     app_version=AppVersion("v"), agent=on, incarnation=1)
                            for n, on in enumerate([agent, agent, moved]))
    one, two, three = (decode(Instance, encode(i)) for i in (first, second, third))
    assert (one, two, three) == (first, second, third)
    assert one.agent is two.agent and three.agent is not one.agent and three.agent == moved
