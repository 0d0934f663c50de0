"""The checker of a nemesis run: pure functions over the recorded history (operations, faults, samples, the
final state). No I/O, no clock: ``check(history)`` returns the violations, each naming its rule.

Rules (issue 18):
- ``lost-or-resurrected`` / ``final-state``: per entity (app, group, job) the final state must be one the
  acknowledged and indeterminate operations can produce, applied in order (each client owns its entities and
  issues one request at a time, so the operations on one entity never overlap). An acknowledged operation took
  effect; an indeterminate one (timeout, connection reset, 5xx: a proxying standby may answer 502 after the
  leader committed) may or may not have; a refused connection or a 4xx changed nothing. Apps compare existence,
  instances, command and version (the version an acknowledged write answered with; unknown after an
  indeterminate one).
- ``duplicate-instance``: two live tasks (staging, starting, running, killing) for one instance id (the task
  id's ``<instanceId>._app.<incarnation>`` instance part) in any sample of the Mesos master.
- ``over-capacity``: more launched tasks (staging, starting, running) of an app than
  ``floor(instances * (1 + maximumOverCapacity))`` (Marathon's rounding) allows, for any definition the app
  had since it last settled (a scale-down kills the surplus after the new count is stored, so the old count
  still bounds the tasks until the app settles), for longer than ``KILL_GRACE`` with no fault active.
- ``orphan``: once the scheduler settled (and had the settle deadline to reconcile), a live app task in Mesos
  the scheduler does not list, or one it lists that Mesos does not run.
- ``not-converged`` / ``deployment-never-finished``: the scheduler did not settle before the deadline.
- ``server-error``: a 5xx other than 502/503/504, or any 5xx answered while a leader was serving (a span
  between two samples that agree on one leader, with no fault in between), except the 503 for ZooKeeper quorum
  loss during a ZooKeeper fault and for ``QUORUM_GRACE`` after it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

LIVE_STATES = frozenset({"TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING"})
LAUNCHED_STATES = frozenset({"TASK_STAGING", "TASK_STARTING", "TASK_RUNNING"})
LEADERLESS_STATUSES = frozenset({502, 503, 504})
EPSILON = 1e-9
QUORUM_LOSS_MESSAGE = "ZooKeeper is unavailable"
ZOOKEEPER_FAULTS = frozenset({"zk-node-restart", "zk-ensemble-restart", "leader-zk-cut"})
QUORUM_GRACE = 10.0
"""How long after a ZooKeeper fault an instance may still answer 503 for quorum loss (its client reconnects
with a backoff of a few seconds)."""
KILL_GRACE = 12.0
"""How long an excess over capacity may last with no fault: the scheduler's kill retry interval (10 s) and
two samples. Kill orders are not observable from outside, and a Marathon-style restart starts replacements
when it orders the kills (Marathon's ``maxCapacity - running + killedImmediately``), so a task whose kill is in
flight, or was lost and is re-sent after the retry interval, may outlive the bound for that long."""
UNKNOWN = "?"


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.detail}"


@dataclass(frozen=True, slots=True)
class History:
    """A run's records, as ``history.read`` returns them (plain JSON values)."""

    ops: Sequence[Mapping[str, Any]] = ()
    faults: Sequence[Mapping[str, Any]] = ()
    samples: Sequence[Mapping[str, Any]] = ()
    final: Mapping[str, Any] = field(default_factory=dict)


# -- outcome of one request --------------------------------------------------------------------------------
def took_effect(op: Mapping[str, Any]) -> bool | None:
    """True: acknowledged; False: certainly changed nothing; None: indeterminate."""
    outcome = op["outcome"]
    if outcome == "ok":
        return True
    if outcome == "indeterminate":
        return None
    status = int(op.get("status") or 0)
    return None if status >= 500 else False


# -- final state against the operations ------------------------------------------------------------------
State = tuple[tuple[str, Any], ...]
ABSENT: State = (("exists", False),)


def _apply(state: State, effect: Mapping[str, Any], version: str) -> State:
    if not effect.get("exists", True):
        return ABSENT
    fields = dict(state) if dict(state).get("exists") else {}
    fields.update(effect.get("fields", {}))
    fields["exists"] = True
    if effect.get("versioned", False):
        fields["version"] = version
    return tuple(sorted(fields.items()))


def _matches(final: State, candidate: State) -> bool:
    have, want = dict(final), dict(candidate)
    if have.get("exists") != want.get("exists"):
        return False
    for key, value in want.items():
        if value == UNKNOWN:
            continue
        if have.get(key) != value:
            return False
    return True


def possible_states(ops: Iterable[Mapping[str, Any]], entity: str) -> set[State]:
    """Every state ``entity`` may be in after ``ops`` (in start order), from absent."""
    states: set[State] = {ABSENT}
    for op in sorted(ops, key=lambda o: o["start"]):
        for effect in op.get("effects", ()):
            if effect["entity"] != entity:
                continue
            effected = took_effect(op)
            if effected is False:
                continue
            version = str((op.get("response") or {}).get("version") or UNKNOWN) if effected else UNKNOWN
            applied = {_apply(s, effect, version) for s in states}
            states = applied if effected else states | applied
    return states


def final_state_violations(ops: Sequence[Mapping[str, Any]], final: Mapping[str, Any]) -> list[Violation]:
    violations = []
    entities = sorted({e["entity"] for op in ops for e in op.get("effects", ())})
    observed: Mapping[str, Mapping[str, Any]] = final.get("entities", {})
    for entity in entities:
        seen = observed.get(entity)
        state: State = ABSENT if seen is None else tuple(sorted({**seen, "exists": True}.items()))
        candidates = possible_states(ops, entity)
        if any(_matches(state, c) for c in candidates):
            continue
        acked_present = all(dict(c).get("exists") for c in candidates)
        acked_absent = not any(dict(c).get("exists") for c in candidates)
        if seen is None and acked_present:
            rule = "lost-or-resurrected"
            detail = f"{entity} is missing although its acknowledged creation was not undone"
        elif seen is not None and acked_absent:
            rule = "lost-or-resurrected"
            detail = f"{entity} exists although it was deleted (acknowledged): {dict(state)}"
        else:
            rule = "final-state"
            detail = f"{entity} ended as {dict(state)}, possible: {[dict(c) for c in sorted(candidates)]}"
        violations.append(Violation(rule, detail))
    return violations


# -- per-sample rules -------------------------------------------------------------------------------------
def instance_of(task_id: str) -> str | None:
    instance, sep, _ = task_id.rpartition("._app.")
    return instance if sep else None


def app_of(task_id: str) -> str | None:
    instance = instance_of(task_id)
    if instance is None:
        return None
    safe, sep, _ = instance.rpartition(".instance-")
    return "/" + safe.replace("_", "/") if sep else None


def duplicate_instance_violations(samples: Sequence[Mapping[str, Any]]) -> list[Violation]:
    violations = []
    for sample in samples:
        tasks = sample.get("mesos")
        if tasks is None:
            continue
        by_instance: dict[str, list[str]] = {}
        for task_id, state in tasks:
            instance = instance_of(task_id)
            if instance is not None and state in LIVE_STATES:
                by_instance.setdefault(instance, []).append(f"{task_id} {state}")
        for instance, live in sorted(by_instance.items()):
            if len(live) > 1:
                violations.append(Violation("duplicate-instance",
                                            f"at t={sample['t']:.1f} instance {instance} has {live}"))
    return violations


def capacity(instances: int, over: float) -> int:
    return math.floor(instances * (1.0 + over) + EPSILON)


def _fault_free_since(start: float, t: float, faults: Sequence[Mapping[str, Any]]) -> float | None:
    """The latest moment in [start, t] after which no fault was active up to t; None when one is active at t."""
    since = start
    for fault in faults:
        if fault["start"] <= t and fault.get("end", float("inf")) >= start:
            if fault.get("end", float("inf")) >= t:
                return None
            since = max(since, fault["end"])
    return since


def over_capacity_violations(samples: Sequence[Mapping[str, Any]], ops: Sequence[Mapping[str, Any]],
                             faults: Sequence[Mapping[str, Any]] = (),
                             grace: float = KILL_GRACE) -> list[Violation]:
    violations = []
    excess_since: dict[str, float] = {}
    reported: set[tuple[str, float]] = set()
    defs_by_app: dict[str, list[tuple[float, float, int, float]]] = {}  # app -> (start, end, instances, over)
    for op in ops:
        if took_effect(op) is False:
            continue
        for effect in op.get("effects", ()):
            bound = effect.get("bound")
            if bound is not None and effect["entity"].startswith("app:"):
                defs_by_app.setdefault(effect["entity"][4:], []).append(
                    (op["start"], op["end"], int(bound[0]), float(bound[1])))
    since: dict[str, float] = {}  # app -> when it last settled
    seen: dict[str, set[tuple[int, float]]] = {}
    for sample in samples:
        tasks, apps = sample.get("mesos"), sample.get("apps")
        if tasks is None:
            continue
        t = sample["t"]
        launched: dict[str, int] = {}
        for task_id, state in tasks:
            app = app_of(task_id)
            if app is not None and state in LAUNCHED_STATES:
                launched[app] = launched.get(app, 0) + 1
        names = set(launched) | set(apps or {}) | set(seen)
        for app in sorted(names):
            current = (apps or {}).get(app)
            known = seen.setdefault(app, set())
            if current is not None:
                known.add((int(current[0]), float(current[1])))
            settled_at = since.get(app, float("-inf"))
            in_flight = {(n, over) for start, end, n, over in defs_by_app.get(app, ())
                         if start <= t and end >= settled_at}
            limit = max((capacity(n, over) for n, over in known | in_flight), default=0)
            count = launched.get(app, 0)
            if count > limit:
                began = excess_since.setdefault(app, t)
                calm = _fault_free_since(began, t, faults)
                if calm is not None and t - calm >= grace and (app, began) not in reported:
                    reported.add((app, began))
                    violations.append(Violation(
                        "over-capacity", f"from t={began:.1f} to t={t:.1f} {app} has {count} launched tasks, "
                                         f"allowed {limit} by {sorted(known | in_flight)}"))
            else:
                excess_since.pop(app, None)
            deploying = sample.get("deploying")
            if apps is not None and deploying is not None and app not in deploying:
                if current is not None and count == int(current[0]):
                    seen[app] = {(int(current[0]), float(current[1]))}
                    since[app] = t
                elif current is None and count == 0:
                    seen[app] = set()
                    since[app] = t
    return violations


# -- after the run ---------------------------------------------------------------------------------------
def convergence_violations(final: Mapping[str, Any]) -> list[Violation]:
    """The scheduler never settled: deployments left, or apps short of (or over) their instances."""
    if final.get("settled"):
        return []
    violations = []
    if final.get("deployments"):
        violations.append(Violation("deployment-never-finished", f"still running: {final['deployments']}"))
    violations.append(Violation("not-converged", str(final.get("why", "no final state"))))
    return violations


def orphan_violations(final: Mapping[str, Any]) -> list[Violation]:
    if not final.get("settled"):
        return []  # reported as not-converged; the sets are not comparable before the scheduler settles
    mesos = {t for t in final.get("mesos_live", ()) if instance_of(t) is not None}
    known = set(final.get("scheduler_tasks", ()))
    violations = [Violation("orphan", f"task {t} runs in Mesos but the scheduler does not know it")
                  for t in sorted(mesos - known)]
    violations += [Violation("orphan", f"the scheduler lists task {t} that Mesos does not run")
                   for t in sorted(known - mesos)]
    return violations


# -- server errors ---------------------------------------------------------------------------------------
def serving_spans(samples: Sequence[Mapping[str, Any]],
                  faults: Sequence[Mapping[str, Any]]) -> list[tuple[float, float]]:
    """Spans in which one leader was serving: between consecutive samples naming the same agreed leader,
    with no fault active anywhere in the span."""
    spans = []
    previous: Mapping[str, Any] | None = None
    for sample in samples:
        leader = sample.get("leader")
        if previous is not None and leader is not None and previous.get("leader") == leader:
            start, end = previous["t"], sample["t"]
            if not any(f["start"] <= end and f.get("end", float("inf")) >= start for f in faults):
                spans.append((start, end))
        previous = sample
    return spans


def quorum_loss_answer(op: Mapping[str, Any], faults: Sequence[Mapping[str, Any]]) -> bool:
    """A 503 for ZooKeeper quorum loss during a ZooKeeper fault or within ``QUORUM_GRACE`` after it (each
    instance learns that quorum is back only when its own client has reconnected)."""
    message = str((op.get("response") or {}).get("message", "")) if isinstance(op.get("response"), dict) else ""
    if int(op.get("status") or 0) != 503 or not message.startswith(QUORUM_LOSS_MESSAGE):
        return False
    return any(f["kind"] in ZOOKEEPER_FAULTS and f["start"] <= op["end"] and op["start"] <= f.get("end", op["start"])
               + QUORUM_GRACE for f in faults)


def server_error_violations(ops: Sequence[Mapping[str, Any]], samples: Sequence[Mapping[str, Any]],
                            faults: Sequence[Mapping[str, Any]]) -> list[Violation]:
    spans = serving_spans(samples, faults)
    violations = []
    for op in ops:
        status = int(op.get("status") or 0)
        if status < 500 or quorum_loss_answer(op, faults):
            continue
        what = f"{op['method']} {op['path']} -> {status} {op.get('response')!r} at t={op['start']:.1f}"
        if status not in LEADERLESS_STATUSES:
            violations.append(Violation("server-error", what))
        elif any(s <= op["start"] and op["end"] <= e for s, e in spans):
            violations.append(Violation("server-error", what + " while a leader was serving"))
    return violations


def check(history: History) -> list[Violation]:
    return (convergence_violations(history.final)
            + final_state_violations(history.ops, history.final)
            + duplicate_instance_violations(history.samples)
            + over_capacity_violations(history.samples, history.ops, history.faults)
            + orphan_violations(history.final)
            + server_error_violations(history.ops, history.samples, history.faults))
