"""Image tasks on localmesos: real namespaces and a chroot into the unpacked image, the failures a real agent
reports (transcript 90), and mesos-bridge port forwarding. Needs root (unshare, chroot) and busybox-static."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.containers.images import build_image
from tests.localmesos.conftest import ThreadedCluster, start_cluster  # noqa: F401
from tests.localmesos.test_pymesos_scheduler import RecordingScheduler, driver_factory, task_info  # noqa: F401
from tests.polling import wait_for

IMAGE = {"type": "MESOS", "mesos": {"image": {"type": "DOCKER", "docker": {"name": "busybox:1.36"}}}}


def sandbox_stdout(cluster: ThreadedCluster, task_id: str) -> str:
    paths = list(Path(cluster.cluster.work_dir).rglob(f"executors/{task_id}/runs/*/stdout"))
    return paths[0].read_text() if paths else ""


def one_agent(start_cluster: Callable[..., ThreadedCluster], driver_factory: Any,  # noqa: F811
              registry: Path | None, **cluster_options: Any) -> tuple[ThreadedCluster, RecordingScheduler, Any,
                                                                       dict[str, Any]]:
    """A one-agent cluster (with ``registry`` as its local Docker registry), a framework on it and its offer."""
    cluster = start_cluster(1, docker_registry=registry, **cluster_options)
    sched = RecordingScheduler()
    driver = driver_factory(sched, on=cluster)
    return cluster, sched, driver, sched.offers.get(timeout=10)


def bridge_web_task(offer: dict[str, Any], task_id: str) -> tuple[dict[str, Any], int]:
    """busybox httpd on 127.0.0.1:8080 inside its own network namespace, mapped from the offer's first port."""
    host_port = offer["resources"][[r["name"] for r in offer["resources"]].index("ports")]["ranges"]["range"][0]["begin"]
    task = task_info(offer, task_id, "exec httpd -f -p 127.0.0.1:8080 -h /www")
    task["resources"].append({"name": "ports", "type": "RANGES", "ranges": {"range": [
        {"begin": host_port, "end": host_port}]}})
    task["container"] = {**IMAGE, "network_infos": [{"name": "mesos-bridge", "port_mappings": [
        {"host_port": host_port, "container_port": 8080, "protocol": "tcp"}]}]}
    return task, host_port


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    build_image(tmp_path / "registry", files={"/etc/only-in-image": "from the image\n",
                                              "/www/index.html": "served from the image\n"})
    return tmp_path / "registry"


def test_an_image_task_sees_the_images_files_not_the_hosts(
        start_cluster: Callable[..., ThreadedCluster], driver_factory: Any, registry: Path) -> None:  # noqa: F811
    cluster, sched, driver, offer = one_agent(start_cluster, driver_factory, registry)
    task = task_info(offer, "img", "cat /etc/only-in-image; test -e /etc/os-release || echo no-host-os-release; "
                                   "test -e /etc/doomed || echo whiteout-applied; echo pid=$$")
    task["container"] = IMAGE
    driver.launchTasks(offer["id"], [task])
    finished = sched.status_of("img", "TASK_FINISHED")
    assert finished["message"] == "Command exited with status 0"
    out = sandbox_stdout(cluster, "img")
    assert "from the image" in out and "no-host-os-release" in out and "whiteout-applied" in out
    assert "pid=2" in out  # its own PID namespace: the init is 1, the command 2
    assert Path("/etc/os-release").exists()  # the host has it: the task really did not see the host's root
    assert not list(Path(cluster.cluster.work_dir).rglob("*.rootfs"))  # its copy of the image went with it


def test_a_killed_image_task_ends_like_a_command_task(
        start_cluster: Callable[..., ThreadedCluster], driver_factory: Any, registry: Path) -> None:  # noqa: F811
    cluster, sched, driver, offer = one_agent(start_cluster, driver_factory, registry)
    task = task_info(offer, "sleeper", "sleep 600")
    task["container"] = IMAGE
    driver.launchTasks(offer["id"], [task])
    sched.status_of("sleeper", "TASK_RUNNING")
    driver.killTask({"value": "sleeper"})
    killed = sched.status_of("sleeper", "TASK_KILLED")
    assert killed["message"] == "Command terminated with signal Terminated"


@pytest.mark.parametrize(("registry_given", "container", "reason", "message"), [
    (False, IMAGE, "REASON_CONTAINER_LAUNCH_FAILED", "Failed to launch container: Unsupported container image type: 2"),
    (False, {"type": "MESOS", "network_infos": [{"name": "mesos-bridge"}]}, "REASON_CONTAINER_LAUNCH_FAILED",
     "Failed to launch container: Unknown CNI network 'mesos-bridge'"),
    (False, {"type": "DOCKER", "docker": {"image": "busybox:1.36", "network": "BRIDGE"}},
     "REASON_EXECUTOR_TERMINATED", "Abnormal executor termination: unknown container"),
    (True, {"type": "MESOS", "mesos": {"image": {"type": "DOCKER", "docker": {"name": "nginx:1.19"}}}},
     "REASON_CONTAINER_LAUNCH_FAILED", "Failed to launch container: Failed to find archive for image 'nginx:1.19' at "),
])
def test_tasks_the_agent_cannot_provision_fail_as_on_a_real_agent(
        start_cluster: Callable[..., ThreadedCluster], driver_factory: Any, registry: Path,  # noqa: F811
        registry_given: bool, container: dict[str, Any], reason: str, message: str) -> None:
    cluster, sched, driver, offer = one_agent(start_cluster, driver_factory, registry if registry_given else None)
    task = task_info(offer, "bad", "sleep 30")
    task["container"] = container
    driver.launchTasks(offer["id"], [task])
    failed = sched.status_of("bad", "TASK_FAILED")
    assert failed["reason"] == reason and failed["source"] == "SOURCE_AGENT"
    assert failed["message"].startswith(message) and "uuid" in failed and "container_status" not in failed
    states = [p["state"] for k, p in sched.events if k == "status" and p["task_id"]["value"] == "bad"]
    assert states == ["TASK_FAILED"]


def test_docker_without_docker_info_is_refused_by_the_master(
        start_cluster: Callable[..., ThreadedCluster], driver_factory: Any) -> None:  # noqa: F811
    cluster, sched, driver, offer = one_agent(start_cluster, driver_factory, None)
    task = task_info(offer, "nodocker", "sleep 30")
    task["container"] = {"type": "DOCKER"}
    driver.launchTasks(offer["id"], [task])
    error = sched.status_of("nodocker", "TASK_ERROR")
    assert error["reason"] == "REASON_TASK_INVALID" and error["source"] == "SOURCE_MASTER"
    assert error["message"] == ("Task's `ContainerInfo` is invalid: DockerInfo 'docker' is not set for DOCKER "
                                "typed ContainerInfo")


def test_bridge_networking_reaches_the_container_port_through_the_host_port(
        start_cluster: Callable[..., ThreadedCluster], driver_factory: Any, registry: Path) -> None:  # noqa: F811
    cluster, sched, driver, offer = one_agent(start_cluster, driver_factory, registry)
    task, host_port = bridge_web_task(offer, "web")
    driver.launchTasks(offer["id"], [task])
    sched.status_of("web", "TASK_RUNNING")
    agent_ip = offer["url"]["address"]["ip"]

    def page() -> str | None:
        try:
            with urllib.request.urlopen(f"http://{agent_ip}:{host_port}/index.html", timeout=2) as response:
                return response.read().decode()
        except OSError:
            return None

    assert wait_for(page, timeout=20) == "served from the image\n"
    with socket.socket() as probe:  # the container port is not open on the agent's address: only forwarded
        assert probe.connect_ex((agent_ip, 8080)) != 0
    driver.killTask({"value": "web"})
    sched.status_of("web", "TASK_KILLED")


def test_command_checks_run_inside_the_container(
        start_cluster: Callable[..., ThreadedCluster], driver_factory: Any, registry: Path) -> None:  # noqa: F811
    assert not Path("/etc/only-in-image").exists()  # so only a check run in the image can pass
    cluster, sched, driver, offer = one_agent(start_cluster, driver_factory, registry)
    for task_id, check in (("in-image", "test -e /etc/only-in-image"), ("on-host", "test -e /etc/os-release")):
        task = task_info(offer, task_id, "sleep 600", cpus=0.2)
        task["container"] = IMAGE
        task["health_check"] = {"type": "COMMAND", "command": {"value": check}, "delay_seconds": 0,
                                "interval_seconds": 0.3, "grace_period_seconds": 0, "consecutive_failures": 1}
        driver.launchTasks(offer["id"], [task])
        offer = sched.offers.get(timeout=15)
    _, healthy = sched.wait_for(lambda k, p: k == "status" and p["task_id"]["value"] == "in-image"
                                and p.get("healthy") is True)
    assert healthy["reason"] == "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"
    killed = sched.status_of("on-host", "TASK_KILLED")  # the host's /etc/os-release is not in the image
    assert killed["healthy"] is False
    driver.killTask({"value": "in-image"})
    sched.status_of("in-image", "TASK_KILLED")


def test_http_checks_of_a_bridge_task_probe_its_own_network(
        start_cluster: Callable[..., ThreadedCluster], driver_factory: Any, registry: Path) -> None:  # noqa: F811
    cluster, sched, driver, offer = one_agent(start_cluster, driver_factory, registry)
    task, _ = bridge_web_task(offer, "checked-web")
    task["health_check"] = {"type": "HTTP", "http": {"port": 8080, "path": "/index.html"}, "delay_seconds": 0,
                            "interval_seconds": 0.3, "grace_period_seconds": 5}
    driver.launchTasks(offer["id"], [task])
    _, healthy = sched.wait_for(lambda k, p: k == "status" and p["task_id"]["value"] == "checked-web"
                                and p.get("healthy") is True)
    assert healthy["state"] == "TASK_RUNNING"
    driver.killTask({"value": "checked-web"})
    sched.status_of("checked-web", "TASK_KILLED")


def test_host_and_sandbox_volumes_are_mounted_into_the_image(
        start_cluster: Callable[..., ThreadedCluster], driver_factory: Any, registry: Path,  # noqa: F811
        tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "note").write_text("from the host\n")
    cluster, sched, driver, offer = one_agent(start_cluster, driver_factory, registry)
    task = task_info(offer, "volumes", "cat /data/note; echo written > /data/new || echo read-only; "
                                       "echo kept > cache/out; cat /mnt/mesos/sandbox/cache/out")
    task["container"] = {**IMAGE, "volumes": [{"container_path": "/data", "host_path": str(shared), "mode": "RO"},
                                              {"container_path": "cache", "host_path": "cache", "mode": "RW"}]}
    driver.launchTasks(offer["id"], [task])
    sched.status_of("volumes", "TASK_FINISHED")
    out = sandbox_stdout(cluster, "volumes")
    assert out.splitlines() == ["from the host", "read-only", "kept"]
    assert not (shared / "new").exists()
    (sandbox_out,) = Path(cluster.cluster.work_dir).rglob("executors/volumes/runs/latest/cache/out")
    assert sandbox_out.read_text() == "kept\n"  # a relative host path lives in the sandbox
