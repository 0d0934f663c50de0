"""End to end: the scheduler on localmesos in simulated mode. Prints figures; asserts nothing.

Starts `mesospaas local-mesos --simulate true --agents N` in its own process, runs the scheduler runtime here
with a local-directory store, adds one app of I instances (`sleep` tasks, 0.1 cpus, 32 MB) and measures the time
until all are RUNNING, the launch rate, and this process's peak RSS.

Usage: .venv/bin/python benchmarks/scheduler_e2e_bench.py --agents 1000 --instances 5000
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.localmesos_bench import start_cluster, stop_cluster  # noqa: E402
from mesospaas.model import AppId, AppSpec, Condition  # noqa: E402
from scheduler.runtime import RuntimeSettings, SchedulerRuntime  # noqa: E402
from scheduler.store import LocalDirectoryStore  # noqa: E402


async def run(agents: int, instances: int) -> None:
    proc, address = start_cluster("--simulate", "true", "--agents", str(agents))
    try:
        with tempfile.TemporaryDirectory() as state:
            store = LocalDirectoryStore(Path(state))
            runtime = SchedulerRuntime(store, RuntimeSettings(master=address, seed=1, tick_interval=1.0))
            await runtime.start()
            await asyncio.wait_for(runtime.subscribed.wait(), 60)
            app = AppSpec(id=AppId("/bench/sleepers"), cmd="sleep 100000", cpus=0.1, mem=32.0, instances=instances)
            t0 = time.perf_counter()
            await runtime.put_app(app)
            t_scheduled = time.perf_counter()
            first_running = None
            while True:
                n = sum(1 for i in runtime.state.instances.values() if i.condition is Condition.RUNNING)
                if n and first_running is None:
                    first_running = time.perf_counter()
                if n >= instances:
                    break
                await asyncio.sleep(0.05)
            t1 = time.perf_counter()
            print(f"e2e: {instances} instances on {agents} simulated agents all RUNNING in {t1 - t0:.2f} s "
                  f"({instances / (t1 - t0):,.0f} tasks/s); scheduling {t_scheduled - t0:.2f} s, "
                  f"first RUNNING after {(first_running or t1) - t0:.2f} s")
            print(f"   offer rounds {runtime.stats.rounds}, offers received {runtime.stats.offers_received}, "
                  f"status updates {runtime.stats.status_updates}")
            await runtime.stop()
            store.close()
    finally:
        stop_cluster(proc)
    me = resource.getrusage(resource.RUSAGE_SELF)
    cluster = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"scheduler process peak RSS: {me.ru_maxrss / 1024:.0f} MB; CPU seconds: scheduler "
          f"{me.ru_utime + me.ru_stime:.1f}, localmesos {cluster.ru_utime + cluster.ru_stime:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--instances", type=int, default=5000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run(args.agents, args.instances))


if __name__ == "__main__":
    main()
