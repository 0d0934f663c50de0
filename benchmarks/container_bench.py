"""Figures for containers on localmesos (issue 16). Prints numbers; asserts nothing.

Time from the ACCEPT to TASK_RUNNING of a task, one at a time on one agent (each task is killed before the
next): a plain command task (no container, for comparison), an image task whose image is already unpacked in
the agent's store (warm: namespaces, a copy of the image root, chroot) and one whose image is not (cold: the
`docker save` tarball is unpacked first). The images are built from /bin/busybox (busybox-static), one tag
per cold run. TASK_RUNNING comes once the container is set up (namespaces, the task's copy of the image root,
mounts, chroot) and its command forked, as on a real agent. Needs root.

Usage: .venv/bin/python benchmarks/container_bench.py --runs 20 --cold 5
The cluster runs as `mesospaas local-mesos --docker-registry DIR` in its own process.
"""

from __future__ import annotations

import argparse
import queue
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from pymesos import MesosSchedulerDriver, Scheduler

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.localmesos_bench import start_cluster, stop_cluster  # noqa: E402
from tests.containers.images import build_image  # noqa: E402


class Timer(Scheduler):  # type: ignore[misc]
    def __init__(self) -> None:
        self.offers: queue.Queue[dict[str, Any]] = queue.Queue()
        self.states: dict[str, tuple[str, float]] = {}
        self.cond = threading.Condition()

    def resourceOffers(self, driver: Any, offers: list[dict[str, Any]]) -> None:
        for offer in offers:
            self.offers.put(offer)

    def statusUpdate(self, driver: Any, status: dict[str, Any]) -> None:
        with self.cond:
            self.states[status["task_id"]["value"]] = (status["state"], time.perf_counter())
            self.cond.notify_all()
        if "uuid" in status:
            driver.acknowledgeStatusUpdate(status)

    def wait(self, task_id: str, states: set[str], timeout: float = 60) -> tuple[str, float]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.states.get(task_id, ("", 0.0))[0] not in states:
                if not self.cond.wait(deadline - time.monotonic()):
                    raise SystemExit(f"{task_id}: no {states} within {timeout} s ({self.states.get(task_id)})")
            return self.states[task_id]


def launch(driver: Any, sched: Timer, task_id: str, image: str | None) -> float:
    offer = sched.offers.get(timeout=30)
    task: dict[str, Any] = {"name": task_id, "task_id": {"value": task_id}, "agent_id": offer["agent_id"],
                            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                                          {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}],
                            "command": {"value": "exec sleep 600"}}
    if image:
        task["container"] = {"type": "MESOS", "mesos": {"image": {"type": "DOCKER", "docker": {"name": image}}}}
    began = time.perf_counter()
    driver.launchTasks(offer["id"], [task], {"refuse_seconds": 0.0})
    state, at = sched.wait(task_id, {"TASK_RUNNING", "TASK_FAILED", "TASK_ERROR"})
    if state != "TASK_RUNNING":
        raise SystemExit(f"{task_id} ended {state}")
    driver.killTask({"value": task_id})
    sched.wait(task_id, {"TASK_KILLED", "TASK_FAILED"})
    return (at - began) * 1000


def summary(name: str, values: list[float]) -> None:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    print(f"{name:<28} n={len(values):<3} median {statistics.median(values):7.1f} ms   p90 {p90:7.1f} ms   "
          f"max {ordered[-1]:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="warm and plain launches")
    parser.add_argument("--cold", type=int, default=5, help="cold launches (one image tag each)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        registry = Path(tmp) / "registry"
        for index in range(args.cold + 1):
            build_image(registry, f"busybox:{index}")
        proc, address = start_cluster("--agents", "1", "--docker-registry", str(registry),
                                      "--work-dir", str(Path(tmp) / "work"))
        sched = Timer()
        driver = MesosSchedulerDriver(sched, {"user": "root", "name": "container-bench"}, address,
                                      implicit_acknowledgements=False, failover=True)
        try:
            driver.start()
            plain = [launch(driver, sched, f"plain-{i}", None) for i in range(args.runs)]
            cold = [launch(driver, sched, f"cold-{i}", f"busybox:{i + 1}") for i in range(args.cold)]
            launch(driver, sched, "unpack", "busybox:0")
            warm = [launch(driver, sched, f"warm-{i}", "busybox:0") for i in range(args.runs)]
        finally:
            driver.stop()
            driver.join()
            stop_cluster(proc)
    print("ACCEPT -> TASK_RUNNING, one task at a time on one localmesos agent (busybox image, 2 MB)")
    summary("no container", plain)
    summary("image, already unpacked", warm)
    summary("image, cold (unpack first)", cold)


if __name__ == "__main__":
    main()
