"""Golden TaskInfos for every container case, built by the core from app definitions as a client posts them.

Each expectation is the ContainerInfo / DiscoveryInfo / environment Marathon's ``TaskBuilder``,
``ContainerSerializer``, ``PortDiscovery`` and ``EnvironmentHelper`` produce for the same definition (field
names from ``include/mesos/v1/mesos.proto``). The whole TaskInfo of each case is also held against the
Mesos proto schema and the master's validation as localmesos implements them (``check_task_info``).
"""

from __future__ import annotations

from typing import Any

import pytest

from mesospaas.launch.container import container_info, discovery_info, probe_ports
from mesospaas.model import AgentId, AgentInfo, OfferId
from mesospaas.model.ids import InstanceId, TaskId
from mesospaas.model.resources import Resource
from mesospaas.placement import Launch
from scheduler.mesos_adapter import task_info
from tests.api.helpers import accepted, an_app
from tests.containers.proto_check import check_task_info

TASK = "web.instance-1.1"


def launch_of(spec: Any, host_ports: tuple[int, ...]) -> Launch:
    resources = (Resource("cpus", scalar=0.1), Resource("mem", scalar=32.0)) + (
        (Resource("ports", ranges=tuple((p, p) for p in host_ports)),) if host_ports else ())
    return Launch(InstanceId("web.instance-1"), spec.id, spec.version, TaskId(TASK), 1, OfferId("O1"),
                  AgentInfo(AgentId("S0"), "127.0.0.2"), resources, host_ports)


def env_of(info: dict[str, Any]) -> dict[str, str]:
    return {v["name"]: v["value"] for v in info["command"]["environment"]["variables"]}


CASES: list[tuple[str, dict[str, Any], tuple[int, ...], dict[str, Any] | None, dict[str, Any]]] = [
    ("no container", an_app(id="/shop/web"), (31000,), None,
     {"visibility": "FRAMEWORK", "name": "web.shop", "ports": {"ports": [
         {"number": 31000, "protocol": "tcp", "name": "default"}]}}),
    ("mesos without image", an_app(id="/shop/web", container={"type": "MESOS"}), (31000,),
     {"type": "MESOS", "mesos": {}},
     {"visibility": "FRAMEWORK", "name": "web.shop", "ports": {"ports": [
         {"number": 31000, "protocol": "tcp", "name": "default"}]}}),
    ("mesos with a docker image (UCR), host networking and host volumes",
     an_app(id="/web", container={"type": "MESOS", "docker": {"image": "busybox:1.36", "forcePullImage": True},
                                  "volumes": [{"containerPath": "/data", "hostPath": "/srv/data", "mode": "RO"},
                                              {"containerPath": "/cache", "hostPath": "cache"}]},
            portDefinitions=[{"port": 10000, "name": "http", "protocol": "udp,tcp", "labels": {"VIP": "x"}}]),
     (31005,),
     {"type": "MESOS", "mesos": {"image": {"type": "DOCKER", "docker": {"name": "busybox:1.36"}, "cached": False}},
      "volumes": [{"container_path": "/data", "host_path": "/srv/data", "mode": "RO"},
                  {"container_path": "/cache", "host_path": "cache", "mode": "RW"}]},
     {"visibility": "FRAMEWORK", "name": "web", "ports": {"ports": [
         {"number": 31005, "protocol": "udp", "name": "http", "labels": {"labels": [{"key": "VIP", "value": "x"}]}},
         {"number": 31005, "protocol": "tcp", "name": "http", "labels": {"labels": [{"key": "VIP", "value": "x"}]}},
     ]}}),
    ("mesos with container/bridge networking",
     an_app(id="/web", networks=[{"mode": "container/bridge", "labels": {"team": "a"}}],
            container={"type": "MESOS", "docker": {"image": "busybox:1.36"},
                       "portMappings": [{"containerPort": 8080, "hostPort": 0, "name": "http"},
                                        {"containerPort": 0, "hostPort": 0, "protocol": "udp"}]}),
     (31001, 31002),
     {"type": "MESOS", "mesos": {"image": {"type": "DOCKER", "docker": {"name": "busybox:1.36"}, "cached": True}},
      "network_infos": [{"ip_addresses": [{}], "labels": {"labels": [{"key": "team", "value": "a"}]},
                         "name": "mesos-bridge", "port_mappings": [
                             {"host_port": 31001, "container_port": 8080, "protocol": "tcp"},
                             {"host_port": 31002, "container_port": 31002, "protocol": "udp"}]}]},
     {"visibility": "FRAMEWORK", "name": "web", "ports": {"ports": [
         {"number": 31001, "protocol": "tcp", "name": "http",
          "labels": {"labels": [{"key": "network-scope", "value": "host"}]}},
         {"number": 31002, "protocol": "udp", "labels": {"labels": [{"key": "network-scope", "value": "host"}]}},
     ]}}),
    ("mesos with two named container networks",
     an_app(id="/web", networks=[{"mode": "container", "name": "a"}, {"mode": "container", "name": "b"}],
            container={"type": "MESOS", "portMappings": [
                {"containerPort": 8080, "hostPort": 0, "networkNames": ["a"], "name": "http"},
                {"containerPort": 9090, "name": "metrics"}]}),
     (31003,),
     {"type": "MESOS", "mesos": {}, "network_infos": [
         {"ip_addresses": [{}], "labels": {}, "name": "a",
          "port_mappings": [{"host_port": 31003, "container_port": 8080, "protocol": "tcp"}]},
         {"ip_addresses": [{}], "labels": {}, "name": "b"}]},
     {"visibility": "FRAMEWORK", "name": "web", "ports": {"ports": [
         {"number": 31003, "protocol": "tcp", "name": "http",
          "labels": {"labels": [{"key": "network-scope", "value": "host"}]}},
         {"number": 9090, "protocol": "tcp", "name": "metrics", "labels": {"labels": [
             {"key": "network-scope", "value": "container"}, {"key": "network-name", "value": "a"}]}},
         {"number": 9090, "protocol": "tcp", "name": "metrics", "labels": {"labels": [
             {"key": "network-scope", "value": "container"}, {"key": "network-name", "value": "b"}]}},
     ]}}),
    ("docker host networking",
     an_app(id="/web", container={"type": "DOCKER", "docker": {
         "image": "nginx:1.19", "privileged": True, "forcePullImage": True,
         "parameters": [{"key": "memory-swap", "value": "64m"}]}}),
     (31004,),
     {"type": "DOCKER", "docker": {"image": "nginx:1.19", "network": "HOST", "privileged": True,
                                   "parameters": [{"key": "memory-swap", "value": "64m"},
                                                  {"key": "label", "value": f"MESOS_TASK_ID={TASK}"}],
                                   "force_pull_image": True}},
     {"visibility": "FRAMEWORK", "name": "web", "ports": {"ports": [
         {"number": 31004, "protocol": "tcp", "name": "default"}]}}),
    ("docker bridge with the legacy docker.portMappings location",
     an_app(id="/web", cmd=..., container={"docker": {"image": "nginx:1.19", "network": "BRIDGE", "portMappings": [
         {"containerPort": 80, "hostPort": 0, "servicePort": 10001, "name": "http", "labels": {"a": "b"}},
         {"containerPort": 53, "hostPort": 31053, "protocol": "udp,tcp"}]}}),
     (31010, 31053),
     {"type": "DOCKER", "docker": {"image": "nginx:1.19", "network": "BRIDGE", "port_mappings": [
         {"host_port": 31010, "container_port": 80, "protocol": "tcp"},
         {"host_port": 31053, "container_port": 53, "protocol": "udp"},
         {"host_port": 31053, "container_port": 53, "protocol": "tcp"}],
         "privileged": False, "parameters": [{"key": "label", "value": f"MESOS_TASK_ID={TASK}"}],
         "force_pull_image": False}},
     {"visibility": "FRAMEWORK", "name": "web", "ports": {"ports": [
         {"number": 31010, "protocol": "tcp", "name": "http",
          "labels": {"labels": [{"key": "a", "value": "b"}, {"key": "network-scope", "value": "host"}]}},
         {"number": 31053, "protocol": "udp", "labels": {"labels": [{"key": "network-scope", "value": "host"}]}},
         {"number": 31053, "protocol": "tcp", "labels": {"labels": [{"key": "network-scope", "value": "host"}]}},
     ]}}),
    ("docker user network",
     an_app(id="/web", networks=[{"mode": "container", "name": "overlay"}],
            container={"type": "DOCKER", "docker": {"image": "nginx:1.19"},
                       "portMappings": [{"containerPort": 80, "name": "http"}]}),
     (),
     {"type": "DOCKER", "docker": {"image": "nginx:1.19", "network": "USER", "privileged": False,
                                   "parameters": [{"key": "label", "value": f"MESOS_TASK_ID={TASK}"}],
                                   "force_pull_image": False},
      "network_infos": [{"name": "overlay"}]},
     {"visibility": "FRAMEWORK", "name": "web", "ports": {"ports": [
         {"number": 80, "protocol": "tcp", "name": "http", "labels": {"labels": [
             {"key": "network-scope", "value": "container"}, {"key": "network-name", "value": "overlay"}]}}]}}),
]


@pytest.mark.parametrize(("body", "host_ports", "container", "discovery"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_the_task_info_carries_marathons_container_and_discovery(
        body: dict[str, Any], host_ports: tuple[int, ...], container: dict[str, Any] | None,
        discovery: dict[str, Any]) -> None:
    spec = accepted(body).spec
    assert container_info(spec, TASK, host_ports) == container
    assert discovery_info(spec, host_ports) == discovery
    info = task_info(launch_of(spec, host_ports), spec, "*")
    assert info.get("container") == container
    assert info["discovery"] == discovery
    assert check_task_info(info) is None


def test_bridge_ports_environment_follows_the_port_mappings() -> None:
    spec = accepted(an_app(networks=[{"mode": "container/bridge"}], container={
        "type": "MESOS", "docker": {"image": "busybox:1.36"}, "portMappings": [
            {"containerPort": 8080, "hostPort": 0, "name": "http"},
            {"containerPort": 0, "hostPort": 0, "name": "admin"}]})).spec
    env = env_of(task_info(launch_of(spec, (31001, 31002)), spec, "*"))
    ports = {k: v for k, v in env.items() if k.startswith("PORT")}
    assert ports == {"PORT0": "31001", "PORT1": "31002", "PORT_8080": "31001", "PORT_31002": "31002",
                     "PORT_HTTP": "31001", "PORT_ADMIN": "31002", "PORT": "31001", "PORTS": "31001,31002"}
    assert "MARATHON_APP_DOCKER_IMAGE" not in env  # Marathon sets it only for the Docker containerizer


def test_container_networking_ports_without_a_host_port_are_the_container_ports() -> None:
    spec = accepted(an_app(networks=[{"mode": "container", "name": "a"}], container={
        "type": "MESOS", "portMappings": [{"containerPort": 9090, "name": "metrics"},
                                          {"containerPort": 8080, "hostPort": 0}]})).spec
    env = env_of(task_info(launch_of(spec, (31007,)), spec, "*"))
    assert {k: v for k, v in env.items() if k.startswith("PORT")} == {
        "PORT0": "9090", "PORT1": "31007", "PORT_9090": "9090", "PORT_8080": "31007", "PORT_METRICS": "9090",
        "PORT": "31007", "PORTS": "31007"}


def test_docker_image_tasks_name_their_image_in_the_environment() -> None:
    spec = accepted(an_app(container={"type": "DOCKER", "docker": {"image": "nginx:1.19"}})).spec
    assert env_of(task_info(launch_of(spec, (31000,)), spec, "*"))["MARATHON_APP_DOCKER_IMAGE"] == "nginx:1.19"


def test_mesos_checks_probe_the_container_port_in_bridge_mode() -> None:
    spec = accepted(an_app(networks=[{"mode": "container/bridge"}], container={
        "type": "MESOS", "docker": {"image": "busybox:1.36"},
        "portMappings": [{"containerPort": 8080, "hostPort": 0}, {"containerPort": 0, "hostPort": 0}]},
        healthChecks=[{"protocol": "MESOS_HTTP", "portIndex": 1}])).spec
    assert probe_ports(spec, (31001, 31002)) == (8080, 31002)
    info = task_info(launch_of(spec, (31001, 31002)), spec, "*")
    assert info["health_check"]["http"]["port"] == 31002


def test_args_go_to_the_image_entrypoint_and_an_image_alone_runs_its_own_command() -> None:
    with_args = accepted(an_app(cmd=..., args=["httpd", "-f"], container={
        "type": "MESOS", "docker": {"image": "busybox:1.36"}})).spec
    command = task_info(launch_of(with_args, (31000,)), with_args, "*")["command"]
    assert command["shell"] is False and command["arguments"] == ["httpd", "-f"] and "value" not in command
    image_only = accepted(an_app(cmd=..., container={"type": "MESOS", "docker": {"image": "busybox:1.36"}})).spec
    command = task_info(launch_of(image_only, (31000,)), image_only, "*")["command"]
    assert command["shell"] is False and "value" not in command and "arguments" not in command
