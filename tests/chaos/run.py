"""One nemesis run from a seed: harness up, clients + nemesis + sampler for ``duration`` seconds, faults stop,
the system settles (or a deadline passes), the final state is read, the checker judges the history.

Owns: ``run_chaos`` (used by ``tests/chaos/test_nemesis.py`` and ``benchmarks/chaos.py``), ``RunResult``, and
``read_final``/``settled`` (what "quiesced" means: a leader every instance names; no deployment; every app with
as many running tasks as instances; and, for ``converged``, the Mesos master's
live app tasks equal to the scheduler's, all running). The history file (``history.jsonl`` in ``base``)
starts with the seed and both planned schedules, so a run replays from its seed.
Fails: whatever the harness raises when a process cannot start; a nemesis that could not undo a fault makes
the result carry ``nemesis_error`` (and the run a violation).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.chaos import checker
from tests.chaos.harness import Harness, http
from tests.chaos.history import HistoryWriter, read
from tests.chaos.nemesis import KINDS, Nemesis, plan_faults
from tests.chaos.sampler import Sampler, live_tasks
from tests.chaos.workload import Client, plan_client

log = logging.getLogger(__name__)
CLIENTS = 3
SETTLE_DEADLINE = 300.0


@dataclass
class RunResult:
    seed: int
    history: Path
    counts: dict[str, int]
    faults: dict[str, int]
    skipped: dict[str, str]
    violations: list[checker.Violation]
    converge_seconds: float | None
    samples: int
    nemesis_error: str | None = None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"seed {self.seed}, history {self.history}",
                 "operations: " + ", ".join(f"{k} {v}" for k, v in self.counts.items()),
                 "faults injected: " + (", ".join(f"{k} {v}" for k, v in sorted(self.faults.items())) or "none"),
                 f"samples: {self.samples}",
                 "converged after the last fault in: " + (f"{self.converge_seconds:.1f} s"
                                                           if self.converge_seconds is not None else "never"),
                 f"violations: {len(self.violations)}"]
        lines += [f"  skipped {k}: {v}" for k, v in sorted(self.skipped.items())]
        lines += [f"  {v}" for v in self.violations[:50]]
        if self.nemesis_error:
            lines.append(f"nemesis error: {self.nemesis_error}")
        return "\n".join(lines)


def _all_groups(group: dict[str, Any]) -> list[str]:
    found = [group["id"]]
    for child in group.get("groups", ()):
        found += _all_groups(child)
    return found


def read_final(harness: Harness) -> dict[str, Any] | None:
    """The final state as the checker wants it, or None while there is no agreed leader to read it from."""
    slot = harness.leader_slot()
    if slot is None:
        return None
    url = harness.instances[slot].url
    apps, groups, jobs = http("GET", f"{url}/v2/apps"), http("GET", f"{url}/v2/groups"), http("GET", f"{url}/v1/jobs")
    tasks, deployments = http("GET", f"{url}/v2/tasks"), http("GET", f"{url}/v2/deployments")
    state = harness.master_state()
    if any(r.status != 200 for r in (apps, groups, jobs, tasks, deployments)) or state is None:
        return None
    entities: dict[str, dict[str, Any]] = {}
    for app in apps.body["apps"]:
        entities[f"app:{app['id']}"] = {"instances": app["instances"], "cmd": app.get("cmd"),
                                        "version": app["version"]}
    for group in _all_groups(groups.body):
        entities[f"group:{group}"] = {}
    for job in jobs.body:
        entities[f"job:{job['id']}"] = {}
    running: dict[str, list[dict[str, Any]]] = {}
    for task in tasks.body["tasks"]:
        running.setdefault(task["appId"], []).append(task)
    unsettled = []
    for app in apps.body["apps"]:
        mine = running.get(app["id"], [])
        # Not "all of the current configuration": as in Marathon, a forced deployment that cancels a restart
        # or upgrade in flight plans from the stored target, so tasks of the older configuration keep running.
        if len(mine) != app["instances"] or any(t["state"] != "TASK_RUNNING" or t["version"] > app["version"]
                                                for t in mine):
            unsettled.append(f"{app['id']}: {len(mine)}/{app['instances']} "
                             f"{sorted((t['state'], t['version']) for t in mine)}")
    mesos_live = live_tasks(state)
    app_tasks = {task_id: s for task_id, s in mesos_live if "._app." in task_id}
    scheduler_tasks = sorted(t["id"] for t in tasks.body["tasks"] if t.get("id"))
    settled = not deployments.body and not unsettled
    converged = settled and set(app_tasks) == set(scheduler_tasks) and all(
        s == "TASK_RUNNING" for s in app_tasks.values())
    why = []
    if deployments.body:
        why.append(f"deployments {[d['id'] for d in deployments.body]} for {[d.get('affectedApps') for d in deployments.body]}")
    why += unsettled
    if set(app_tasks) != set(scheduler_tasks):
        why.append(f"mesos-only {sorted(set(app_tasks) - set(scheduler_tasks))}, "
                   f"scheduler-only {sorted(set(scheduler_tasks) - set(app_tasks))}")
    return {"type": "final", "settled": settled, "converged": converged, "entities": entities,
            "mesos_live": sorted(app_tasks), "scheduler_tasks": scheduler_tasks,
            "deployments": [d["id"] for d in deployments.body], "why": "; ".join(why), "leader": slot}


def run_chaos(base: Path, seed: int, duration: float, kinds: tuple[str, ...] = KINDS,
              every_kind_first: bool = True, settle_deadline: float = SETTLE_DEADLINE) -> RunResult:
    base.mkdir(parents=True, exist_ok=True)
    history_path = base / "history.jsonl"
    history = HistoryWriter(history_path)
    client_plans = [plan_client(seed, k, duration) for k in range(CLIENTS)]
    fault_plan = plan_faults(seed, duration, kinds, every_kind_first)
    history.write({"type": "run", "seed": seed, "duration": duration, "kinds": list(kinds),
                   "every_kind_first": every_kind_first, "faults": fault_plan,
                   "clients": [[{k: op[k] for k in ("at", "op", "path")} for op in plan] for plan in client_plans]})
    stop = threading.Event()
    harness = Harness(base)
    try:
        harness.start()
        if harness.wait_leader() is None:
            raise RuntimeError(f"no leader after start; logs in {base}")
        t0 = time.monotonic()

        def clock() -> float:
            return time.monotonic() - t0

        sampler = Sampler(harness, history, clock, stop)
        clients = [Client(harness, plan, history, clock, stop) for plan in client_plans]
        nemesis = Nemesis(harness, fault_plan, history, clock, stop)
        for thread in [sampler, nemesis, *clients]:
            thread.start()
        for client in clients:
            client.join()
        nemesis.join()  # the schedule guarantees every kind once, so the nemesis may outlast the clients
        quiet_from = clock()
        final: dict[str, Any] | None = None
        deadline = time.monotonic() + settle_deadline
        while time.monotonic() < deadline:
            final = read_final(harness)
            if final is not None and final["converged"]:
                break
            time.sleep(1.0)
        converged_at = clock()
        stop.set()
        sampler.join(30)
        if final is None:
            final = {"type": "final", "settled": False, "converged": False, "entities": {},
                     "why": "no leader to read the final state from"}
        final["t"] = converged_at
        history.write(final)
        counts = {"issued": 0, "ok": 0, "fail": 0, "indeterminate": 0}
        for client in clients:
            for key, value in client.counts.items():
                counts[key] += value
        last_fault_end = nemesis.last_end if nemesis.last_end is not None else quiet_from
        _, recorded = read(history_path)
        violations = checker.check(recorded)
        if nemesis.error is not None:
            violations.append(checker.Violation("nemesis", f"could not apply or undo a fault: {nemesis.error!r}"))
        result = RunResult(seed=seed, history=history_path, counts=counts, faults=dict(nemesis.applied),
                           skipped=dict(nemesis.skipped), violations=violations,
                           converge_seconds=converged_at - last_fault_end if final.get("converged") else None,
                           samples=sampler.count,
                           nemesis_error=repr(nemesis.error) if nemesis.error is not None else None)
        history.write({"type": "verdict", "violations": [str(v) for v in violations], "counts": counts,
                       "faults": result.faults, "skipped": result.skipped,
                       "converge_seconds": result.converge_seconds})
        return result
    finally:
        stop.set()
        harness.close()
        history.close()
