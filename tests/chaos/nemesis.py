"""The nemesis: a seeded schedule of faults and the thread that applies them to a ``Harness``, one at a time.

Kinds (issue 18; no clock faults: timers are frozen by SIGSTOP instead):
- ``kill-leader``: kill -9 of the leader's process group; once another instance leads (or a deadline passes)
  and the fault's length is over, the instance is started again in its slot.
- ``pause-leader``: SIGSTOP of the leader for longer than its ZooKeeper session timeout, then SIGCONT.
- ``zk-node-restart``: one ZooKeeper node killed and started again (the quorum survives).
- ``zk-ensemble-restart``: every ZooKeeper node killed, down for a while, started again (quorum lost).
- ``leader-zk-cut``: every link of the leader to ZooKeeper cut (proxy reset or blackhole) past its session timeout.
- ``leader-master-cut``: the leader's link to the Mesos master blackholed for several heartbeat intervals (its
  connections are reset when the link comes back, as bytes were dropped).
- ``master-restart`` / ``master-failover``: the local-mesos process restarts its master (SIGUSR1) or fails it
  over (SIGUSR2); only when local-mesos supports it (``LocalMesosProcess.supports_master_restart``).
- ``agent-bounce``: one agent stopped and restarted (checkpointed tasks keep running) through local-mesos'
  ``/localmesos/agents/{i}/stop|restart``, within the time the master waits before declaring it unreachable.
- ``task-kill``: kill -9 of one running app task's process group, found by its ``MESOS_TASK_ID`` in /proc.

``plan_faults`` is pure (seed -> schedule). Each applied fault is recorded with its start and end (the end is
when the harness has undone it: process restarted, link restored, quorum back); a leader-targeted fault with no
leader to target within a deadline is recorded as skipped.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from tests.chaos.harness import HEARTBEAT_INTERVAL, SESSION_TIMEOUT, Harness, http, processes_with_env
from tests.chaos.history import HistoryWriter

KINDS = ("kill-leader", "pause-leader", "zk-node-restart", "zk-ensemble-restart", "leader-zk-cut",
         "leader-master-cut", "master-restart", "master-failover", "agent-bounce", "task-kill")
LEADER_DEADLINE = 90.0


def plan_faults(seed: int, duration: float, kinds: tuple[str, ...] = KINDS, every_kind_first: bool = True,
                start: float = 8.0, gap: tuple[float, float] = (4.0, 10.0)) -> list[dict[str, Any]]:
    """Faults at planned offsets; with ``every_kind_first`` each kind comes once (shuffled) before repeats.
    The offsets are a floor: a fault starts no earlier than planned and after the previous one ended."""
    rng = random.Random(f"{seed}/nemesis")
    order = list(kinds)
    rng.shuffle(order)
    if not every_kind_first:
        order = []
    plan: list[dict[str, Any]] = []
    at = start
    while at < duration or (every_kind_first and len(plan) < len(kinds)):
        kind = order[len(plan)] if len(plan) < len(order) else rng.choice(kinds)
        length = round(_length(kind, rng), 3)
        plan.append({"kind": kind, "at": round(at, 3), "length": length, "pick": rng.randrange(1000),
                     "mode": rng.choice(["reset", "blackhole"])})
        at += length + rng.uniform(*gap)
    return plan


def _length(kind: str, rng: random.Random) -> float:
    if kind in ("pause-leader", "leader-zk-cut"):
        return SESSION_TIMEOUT * 2 + rng.uniform(0.5, 3.0)
    if kind == "leader-master-cut":
        return HEARTBEAT_INTERVAL * 4 + rng.uniform(0.0, 4.0)
    if kind == "agent-bounce":
        return rng.uniform(1.0, 8.0)
    if kind in ("zk-node-restart", "zk-ensemble-restart"):
        return rng.uniform(0.5, 4.0)
    if kind in ("master-restart", "master-failover"):
        return rng.uniform(0.0, 2.0)
    if kind == "kill-leader":
        return rng.uniform(0.0, 3.0)
    return 0.0


def task_processes(task_id: str) -> list[int]:
    """Pids whose environment names ``MESOS_TASK_ID=task_id`` (the task's shell and what it runs)."""
    return processes_with_env(f"MESOS_TASK_ID={task_id}", exact=True)


class Nemesis(threading.Thread):
    def __init__(self, harness: Harness, plan: list[dict[str, Any]], history: HistoryWriter,
                 clock: Callable[[], float], stop: threading.Event) -> None:
        super().__init__(name="chaos-nemesis", daemon=True)
        self.harness = harness
        self.plan = plan
        self.history = history
        self.clock = clock
        self.stop_event = stop
        self.applied: dict[str, int] = {}
        self.skipped: dict[str, str] = {}
        self.last_end: float | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for fault in self.plan:
                if self.stop_event.wait(max(0.0, fault["at"] - self.clock())):
                    return
                self.apply(fault)
        except BaseException as exc:  # surfaced by the run: a harness that cannot undo a fault is broken
            self.error = exc

    def apply(self, fault: dict[str, Any]) -> None:
        kind = fault["kind"]
        start = self.clock()
        method: Callable[[dict[str, Any]], str | None] = getattr(self, "_" + kind.replace("-", "_"))
        detail = method(fault)
        end = self.clock()
        record = {"type": "fault", "kind": kind, "start": start, "end": end, "planned_at": fault["at"],
                  "length": fault["length"], "detail": detail}
        if detail is not None and detail.startswith("skipped"):
            record["type"] = "fault-skipped"
            self.skipped[kind] = detail
        else:
            self.applied[kind] = self.applied.get(kind, 0) + 1
            self.last_end = end
        self.history.write(record)

    def _leader(self) -> Any:
        slot = self.harness.wait_leader(LEADER_DEADLINE)
        return None if slot is None else self.harness.instances[slot]

    def _hold(self, seconds: float) -> None:
        time.sleep(seconds)  # the fault's length: how long the fault lasts, not a synchronisation

    # -- the faults -------------------------------------------------------------------------------------
    def _kill_leader(self, fault: dict[str, Any]) -> str | None:
        leader = self._leader()
        if leader is None:
            return "skipped: no leader"
        leader.kill()
        others = [i for i in self.harness.instances if i is not leader]
        deadline = time.monotonic() + LEADER_DEADLINE
        while time.monotonic() < deadline and self.harness.leader_slot() not in {i.slot for i in others}:
            time.sleep(0.3)
        self._hold(fault["length"])
        leader.start()
        return f"serve-{leader.slot}"

    def _pause_leader(self, fault: dict[str, Any]) -> str | None:
        leader = self._leader()
        if leader is None:
            return "skipped: no leader"
        leader.signal(signal.SIGSTOP)
        try:
            self._hold(fault["length"])
        finally:
            leader.signal(signal.SIGCONT)
        return f"serve-{leader.slot}"

    def _zk_node_restart(self, fault: dict[str, Any]) -> str | None:
        index = fault["pick"] % len(self.harness.zk.nodes)
        self.harness.zk.restart_node(index, downtime=fault["length"])
        return f"zk{index + 1}"

    def _zk_ensemble_restart(self, fault: dict[str, Any]) -> str | None:
        self.harness.zk.stop_all()
        self._hold(fault["length"])
        self.harness.zk.start_all()
        return "all"

    def _leader_zk_cut(self, fault: dict[str, Any]) -> str | None:
        leader = self._leader()
        if leader is None:
            return "skipped: no leader"
        for proxy in leader.zk_proxies:
            proxy.cut(fault["mode"])
        try:
            self._hold(fault["length"])
        finally:
            for proxy in leader.zk_proxies:
                proxy.restore()
        return f"serve-{leader.slot} ({fault['mode']})"

    def _leader_master_cut(self, fault: dict[str, Any]) -> str | None:
        leader = self._leader()
        if leader is None:
            return "skipped: no leader"
        leader.master_proxy.cut("blackhole")
        try:
            self._hold(fault["length"])
        finally:
            leader.master_proxy.restore()
        return f"serve-{leader.slot}"

    def _master_restart(self, fault: dict[str, Any]) -> str | None:
        return self._signal_master(signal.SIGUSR1, fault)

    def _master_failover(self, fault: dict[str, Any]) -> str | None:
        return self._signal_master(signal.SIGUSR2, fault)

    def _signal_master(self, sig: int, fault: dict[str, Any]) -> str | None:
        mesos = self.harness.mesos
        if not mesos.supports_master_restart():
            return "skipped: local-mesos has no master restart (SIGUSR1/SIGUSR2)"
        line: str = mesos.restart_master(sig, [i.master_proxy for i in self.harness.instances])
        return line

    def _agent_bounce(self, fault: dict[str, Any]) -> str | None:
        index = fault["pick"] % self.harness.mesos.agents
        url = f"{self.harness.mesos.url}/localmesos/agents/{index}"
        stopped = http("POST", f"{url}/stop", timeout=30)
        if stopped.status != 200:
            raise RuntimeError(f"stopping agent {index} failed: {stopped}")
        try:
            self._hold(fault["length"])
        finally:
            restarted = http("POST", f"{url}/restart", timeout=30)
        if restarted.status != 200:
            raise RuntimeError(f"restarting agent {index} failed: {restarted}")
        return f"agent {index}"

    def _task_kill(self, fault: dict[str, Any]) -> str | None:
        state = self.harness.master_state()
        running = sorted(t["id"] for f in (state or {}).get("frameworks", ()) for t in f.get("tasks", ())
                         if t["state"] == "TASK_RUNNING" and "._app." in t["id"])
        if not running:
            return "skipped: no running app task"
        task: str = running[fault["pick"] % len(running)]
        groups = {g for g in map(_group_of, task_processes(task)) if g is not None}
        if not groups:
            return f"skipped: no process found for {task}"
        for group in groups:
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return task


def _group_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None
