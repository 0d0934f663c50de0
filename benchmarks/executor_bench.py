"""The mesospaas executor's figures, on localmesos in process mode (real executors, real tasks). Asserts nothing.

1. Launch latency: tasks launched one at a time, then an app of N ``sleep`` instances, on the command executor
   and on ours; per task the time from the scheduler's ACCEPT (``Instance.staged_at``, taken when the launch is
   persisted right before the ACCEPT) to TASK_RUNNING (``started_at``, when the runtime processed the update:
   updates that arrive together are processed in one batch and share it), and the time until all N run.
2. Overhead per task on our executor: RSS and CPU seconds of each executor process (and of the task's guard),
   read from ``/proc``: at start (startup cost) and over an idle window (steady cost, usage reports included).

Usage: .venv/bin/python benchmarks/executor_bench.py --instances 100 --idle 10
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.localmesos_bench import start_cluster, stop_cluster  # noqa: E402
from executor import process_tree  # noqa: E402
from mesospaas.model import AppId, AppSpec, Condition  # noqa: E402
from mesospaas.model.app import CommandExecutor, CustomExecutor, Executor  # noqa: E402
from scheduler.runtime import RuntimeSettings, SchedulerRuntime  # noqa: E402
from scheduler.store import LocalDirectoryStore  # noqa: E402


def executor_processes() -> dict[int, int]:
    """pid of every running mesospaas executor -> pid of its task's guard."""
    found: dict[int, int] = {}
    stats = process_tree.all_stats()
    for stat in stats:
        try:
            cmdline = Path(f"/proc/{stat.pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"-m" in cmdline and b"executor" in cmdline:
            guards = [s.pid for s in stats if s.ppid == stat.pid]
            found[stat.pid] = guards[0] if guards else 0
    return found


def cpu_seconds(pid: int) -> float:
    stat = process_tree.read_stat(pid)
    return stat.user_seconds + stat.system_seconds if stat else 0.0


def rss(pid: int) -> int:
    stat = process_tree.read_stat(pid)
    return stat.rss_bytes if stat else 0


def pss(pid: int) -> int:
    """Proportional set size: shared pages (the interpreter, libraries) divided among the processes using them."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


async def launch(runtime: SchedulerRuntime, name: str, instances: int, executor: Executor) -> tuple[list[float], float]:
    app = AppSpec(id=AppId(name), cmd="sleep 100000", cpus=0.1, mem=64.0, instances=instances, executor=executor)
    t0 = time.perf_counter()
    await runtime.put_app(app)
    while True:
        mine = [i for i in runtime.state.instances.values() if i.app_id == app.id]
        if sum(1 for i in mine if i.condition is Condition.RUNNING) >= instances:
            break
        await asyncio.sleep(0.05)
    total = time.perf_counter() - t0
    latencies = [i.started_at - i.staged_at for i in mine if i.started_at is not None and i.staged_at is not None]
    return latencies, total


def describe(label: str, latencies: list[float], total: float) -> None:
    q = statistics.quantiles(latencies, n=20)
    print(f"{label}: {len(latencies)} tasks RUNNING in {total:.2f} s; ACCEPT->RUNNING median "
          f"{statistics.median(latencies) * 1000:.0f} ms, p95 {q[18] * 1000:.0f} ms, "
          f"max {max(latencies) * 1000:.0f} ms")


async def run(instances: int, idle: float, singles_count: int) -> None:
    with tempfile.TemporaryDirectory() as work:
        proc, address = start_cluster("--agents", "3", "--resources", "cpus:64;mem:65536;disk:100000",
                                      "--work-dir", str(Path(work) / "mesos"))
        try:
            store = LocalDirectoryStore(Path(work) / "state")
            runtime = SchedulerRuntime(store, RuntimeSettings(master=address, seed=1, tick_interval=0.5,
                                                              decline_refuse_seconds=1.0))
            await runtime.start()
            await asyncio.wait_for(runtime.subscribed.wait(), 60)
            for label, executor in (("command executor ", CommandExecutor()),
                                    ("mesospaas executor", CustomExecutor("//mesospaas"))):
                singles = []
                for index in range(singles_count):  # one task at a time: the latency without contention
                    name = f"/bench/single{index}-{'ours' if isinstance(executor, CustomExecutor) else 'cmd'}"
                    one, _ = await launch(runtime, name, 1, executor)
                    singles += one
                    await runtime.delete_app(AppId(name))
                print(f"{label}: one task at a time, ACCEPT->RUNNING median "
                      f"{statistics.median(singles) * 1000:.0f} ms over {len(singles)} launches")
            latencies, total = await launch(runtime, "/bench/cmd", instances, CommandExecutor())
            describe("command executor ", latencies, total)
            await runtime.delete_app(AppId("/bench/cmd"))
            while any(i.app_id == "/bench/cmd" for i in runtime.state.instances.values()):
                await asyncio.sleep(0.1)
            latencies, total = await launch(runtime, "/bench/ours", instances, CustomExecutor("//mesospaas"))
            describe("mesospaas executor", latencies, total)
            pids = executor_processes()
            start_cpu = {p: cpu_seconds(p) for p in pids}
            t0 = time.perf_counter()
            await asyncio.sleep(idle)
            window = time.perf_counter() - t0
            idle_cpu = [cpu_seconds(p) - start_cpu[p] for p in pids]
            executor_rss = [rss(p) for p in pids]
            guard_rss = [rss(g) for g in pids.values() if g]
            executor_pss = [pss(p) for p in pids]
            guard_pss = [pss(g) for g in pids.values() if g]
            print(f"mesospaas executor overhead over {len(pids)} tasks: RSS per executor median "
                  f"{statistics.median(executor_rss) / 2**20:.1f} MiB (max {max(executor_rss) / 2**20:.1f}), "
                  f"guard {statistics.median(guard_rss) / 2**20:.1f} MiB; PSS executor "
                  f"{statistics.median(executor_pss) / 2**20:.1f} MiB, guard "
                  f"{statistics.median(guard_pss) / 2**20:.1f} MiB; CPU to start "
                  f"{statistics.median(start_cpu.values()):.2f} s per executor; idle CPU "
                  f"{statistics.median(idle_cpu) / window * 100:.2f} % of a core per executor "
                  f"(usage report every 10 s)")
            await runtime.delete_app(AppId("/bench/ours"))
            while any(i.app_id == "/bench/ours" for i in runtime.state.instances.values()):
                await asyncio.sleep(0.1)
            await runtime.stop()
            store.close()
        finally:
            stop_cluster(proc)
    print(f"machine: {os.cpu_count()} CPUs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=100)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of the idle window")
    parser.add_argument("--singles", type=int, default=5, help="tasks launched one at a time first")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run(args.instances, args.idle, args.singles))


if __name__ == "__main__":
    main()
