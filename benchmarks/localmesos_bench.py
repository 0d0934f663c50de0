"""Figures for localmesos (issue 2). Prints numbers; asserts nothing.

  offers  Simulated mode: offers per second a subscribed pymesos scheduler receives from N agents, declining
          each offer with no refuse filter so the next allocation round offers it again.
  launch  Process mode: time to start T `sleep` tasks across A agents until all are RUNNING (pymesos scheduler,
          explicit acknowledgements), measured from the first ACCEPT.

Usage: .venv/bin/python benchmarks/localmesos_bench.py offers --agents 1000 --seconds 10
       .venv/bin/python benchmarks/localmesos_bench.py launch --tasks 200 --agents 5
The cluster runs as `mesospaas local-mesos` in its own process, as a user would run it.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

from pymesos import MesosSchedulerDriver, Scheduler


def start_cluster(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "scheduler.cli", "local-mesos", "--port", "0",
                             "--agent-port", "0", "--log-level", "WARNING", *args],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("localmesos master: http://"):
        proc.kill()
        raise SystemExit(f"cluster did not start: {line!r}")
    return proc, line.split("http://", 1)[1]


def stop_cluster(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class OfferCounter(Scheduler):  # type: ignore[misc]
    def __init__(self) -> None:
        self.count = 0
        self.events = 0
        self.first: float | None = None
        self.lock = threading.Lock()

    def resourceOffers(self, driver: Any, offers: list[dict[str, Any]]) -> None:
        with self.lock:
            if self.first is None:
                self.first = time.perf_counter()
            self.count += len(offers)
            self.events += 1
        driver.declineOffer([o["id"] for o in offers], {"refuse_seconds": 0.0})


def bench_offers(agents: int, seconds: float, allocation_interval: float) -> None:
    proc, address = start_cluster("--simulate", "true", "--agents", str(agents),
                                  "--allocation-interval", str(allocation_interval))
    sched = OfferCounter()
    driver = MesosSchedulerDriver(sched, {"user": "bench", "name": "offers-bench"}, address,
                                  implicit_acknowledgements=False, failover=True)
    try:
        driver.start()
        deadline = time.time() + 60
        while sched.first is None and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(1.0)  # skip the first round
        with sched.lock:
            c0, e0, t0 = sched.count, sched.events, time.perf_counter()
        time.sleep(seconds)
        with sched.lock:
            c1, e1, t1 = sched.count, sched.events, time.perf_counter()
        rate = (c1 - c0) / (t1 - t0)
        print(f"offers: agents={agents} allocation_interval={allocation_interval}s "
              f"-> {rate:,.0f} offers/s ({(e1 - e0) / (t1 - t0):.2f} OFFERS events/s, "
              f"{(c1 - c0) / max(e1 - e0, 1):,.0f} offers per event)")
    finally:
        driver.stop(failover=True)
        driver.join()
        stop_cluster(proc)


class Launcher(Scheduler):  # type: ignore[misc]
    def __init__(self, tasks: int) -> None:
        self.to_launch = tasks
        self.launched = 0
        self.running: set[str] = set()
        self.first_accept: float | None = None
        self.all_running: float | None = None
        self.done = threading.Event()
        self.lock = threading.Lock()

    def resourceOffers(self, driver: Any, offers: list[dict[str, Any]]) -> None:
        for offer in offers:
            cpus = next(r["scalar"]["value"] for r in offer["resources"] if r["name"] == "cpus")
            mem = next(r["scalar"]["value"] for r in offer["resources"] if r["name"] == "mem")
            tasks = []
            while self.launched < self.to_launch and cpus >= 0.1 - 1e-9 and mem >= 32:
                task_id = f"sleep-{self.launched}"
                tasks.append({"name": task_id, "task_id": {"value": task_id}, "agent_id": offer["agent_id"],
                              "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                                            {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}],
                              "command": {"value": "sleep 300"}})
                self.launched += 1
                cpus -= 0.1
                mem -= 32
            if tasks:
                if self.first_accept is None:
                    self.first_accept = time.perf_counter()
                driver.launchTasks(offer["id"], tasks)
            else:
                driver.declineOffer(offer["id"], {"refuse_seconds": 60})

    def statusUpdate(self, driver: Any, status: dict[str, Any]) -> None:
        if "uuid" in status:
            driver.acknowledgeStatusUpdate(status)
        if status["state"] == "TASK_RUNNING":
            with self.lock:
                self.running.add(status["task_id"]["value"])
                if len(self.running) == self.to_launch and self.all_running is None:
                    self.all_running = time.perf_counter()
                    self.done.set()
        elif status["state"] not in ("TASK_STARTING",):
            print("unexpected", status["task_id"]["value"], status["state"], status.get("message"), file=sys.stderr)


def bench_launch(tasks: int, agents: int) -> None:
    with tempfile.TemporaryDirectory() as work:
        proc, address = start_cluster("--agents", str(agents), "--work-dir", work,
                                      "--resources", "cpus:4;mem:8192;disk:20000")
        sched = Launcher(tasks)
        driver = MesosSchedulerDriver(sched, {"user": "bench", "name": "launch-bench"}, address,
                                      implicit_acknowledgements=False, failover=False)
        try:
            driver.start()
            if not sched.done.wait(300):
                print(f"launch: only {len(sched.running)}/{tasks} RUNNING after 300 s")
                return
            assert sched.first_accept is not None and sched.all_running is not None
            elapsed = sched.all_running - sched.first_accept
            print(f"launch: {tasks} sleep tasks on {agents} agents all RUNNING in {elapsed:.2f} s "
                  f"({tasks / elapsed:,.0f} tasks/s)")
        finally:
            driver.stop()
            driver.join()
            stop_cluster(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    offers = sub.add_parser("offers")
    offers.add_argument("--agents", type=int, nargs="+", default=[1000, 10000])
    offers.add_argument("--seconds", type=float, default=10.0)
    offers.add_argument("--allocation-interval", type=float, default=1.0)
    launch = sub.add_parser("launch")
    launch.add_argument("--tasks", type=int, default=200)
    launch.add_argument("--agents", type=int, default=5)
    args = parser.parse_args()
    if args.what == "offers":
        for n in args.agents:
            bench_offers(n, args.seconds, args.allocation_interval)
    else:
        bench_launch(args.tasks, args.agents)
    print(f"benchmark process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
