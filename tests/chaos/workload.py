"""The clients of a nemesis run: seeded plans of API operations, and the threads that issue them.

Owns: ``plan_client(seed, client, duration)`` (pure: the same seed gives the same operations at the same
offsets; it does not depend on what the run answers) and ``Client`` (a thread that issues one plan, one
request at a time, through the instance the plan names or the next live one, recording each request).

Each client owns its entities (apps ``/chaos/c<k>/a<j>``, groups ``/chaos/c<k>/g<j>`` of a ``db`` and a ``web``
app depending on it, jobs ``chaos-c<k>-j<j>``), so operations on one entity never overlap in time and the
checker can apply them in order. Every op carries the ``effects`` the checker models (``checker.possible_states``)
and, for apps, the ``bound`` (instances, maximumOverCapacity) of the definition it asks for. Apps are tiny
real tasks (``sleep``) with 1-3 instances and an ``upgradeStrategy``.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

from tests.chaos.harness import Harness, Reply, http
from tests.chaos.history import HistoryWriter

APPS_PER_CLIENT, GROUPS_PER_CLIENT, JOBS_PER_CLIENT = 4, 2, 2
REQUEST_TIMEOUT = 6.0
"""Shorter than a paused leader stays frozen: requests it holds end indeterminate, as a real client's would."""
STRATEGIES = [(0.5, 0.0), (0.5, 0.5), (0.5, 1.0), (0.0, 1.0), (1.0, 1.0)]


def _app_body(rng: random.Random, app_id: str, deps: list[str] | None = None) -> dict[str, Any]:
    min_health, over = rng.choice(STRATEGIES)
    body: dict[str, Any] = {"id": app_id, "cmd": f"sleep {rng.randint(1000, 99999)}", "cpus": 0.01, "mem": 8,
                            "instances": rng.randint(1, 3), "env": {"CHAOS": str(rng.randint(0, 9))},
                            "upgradeStrategy": {"minimumHealthCapacity": min_health, "maximumOverCapacity": over}}
    if deps:
        body["dependencies"] = deps
    return body


def _app_fields(body: dict[str, Any]) -> dict[str, Any]:
    return {"instances": body["instances"], "cmd": body["cmd"]}


def _bound(body: dict[str, Any]) -> list[Any]:
    return [body["instances"], body["upgradeStrategy"]["maximumOverCapacity"]]


class _Planner:
    """Generates one client's operations against what it believes (every earlier op succeeded)."""

    def __init__(self, rng: random.Random, client: int) -> None:
        self.rng = rng
        self.client = client
        self.apps: dict[str, dict[str, Any]] = {}
        self.groups: set[str] = set()
        self.jobs: set[str] = set()

    def next(self) -> dict[str, Any]:
        roll = self.rng.random()
        if roll < 0.62:
            return self._app_op(f"/chaos/c{self.client}/a{self.rng.randrange(APPS_PER_CLIENT)}")
        if roll < 0.82:
            return self._group_op(f"/chaos/c{self.client}/g{self.rng.randrange(GROUPS_PER_CLIENT)}")
        return self._job_op(f"chaos-c{self.client}-j{self.rng.randrange(JOBS_PER_CLIENT)}")

    def _app_op(self, app: str) -> dict[str, Any]:
        rng, entity = self.rng, f"app:{app}"
        current = self.apps.get(app)
        force = "?force=true" if rng.random() < 0.7 else ""
        if current is None:
            body = _app_body(rng, app)
            self.apps[app] = body
            return {"op": "create_app", "method": "POST", "path": "/v2/apps", "body": body,
                    "effects": [{"entity": entity, "fields": _app_fields(body), "versioned": True,
                                 "bound": _bound(body)}]}
        kind = rng.choices(["update", "scale", "restart", "delete"], [3, 4, 2, 2])[0]
        if kind == "update":
            body = _app_body(rng, app)
            self.apps[app] = body
            return {"op": "update_app", "method": "PUT", "path": f"/v2/apps{app}{force}", "body": body,
                    "effects": [{"entity": entity, "fields": _app_fields(body), "versioned": True,
                                 "bound": _bound(body)}]}
        if kind == "scale":
            current = {**current, "instances": rng.choice([n for n in (1, 2, 3) if n != current["instances"]])}
            self.apps[app] = current
            return {"op": "scale_app", "method": "PUT", "path": f"/v2/apps{app}{force}",
                    "body": {"instances": current["instances"]},
                    "effects": [{"entity": entity, "fields": {"instances": current["instances"]},
                                 "versioned": True, "bound": _bound(current)}]}
        if kind == "restart":
            return {"op": "restart_app", "method": "POST", "path": f"/v2/apps{app}/restart{force}", "body": None,
                    "effects": [{"entity": entity, "fields": {}, "versioned": True, "bound": _bound(current)}]}
        del self.apps[app]
        return {"op": "delete_app", "method": "DELETE", "path": f"/v2/apps{app}", "body": None,
                "effects": [{"entity": entity, "exists": False}]}

    def _group_op(self, group: str) -> dict[str, Any]:
        rng = self.rng
        db, web = f"{group}/db", f"{group}/web"
        if group not in self.groups:
            self.groups.add(group)
            apps = [_app_body(rng, db), _app_body(rng, web, deps=[db])]
            return {"op": "create_group", "method": "POST", "path": "/v2/groups", "body": {"id": group, "apps": apps},
                    "effects": [{"entity": f"group:{group}", "fields": {}}]
                    + [{"entity": f"app:{a['id']}", "fields": _app_fields(a), "versioned": True, "bound": _bound(a)}
                       for a in apps]}
        self.groups.discard(group)
        return {"op": "delete_group", "method": "DELETE", "path": f"/v2/groups{group}?force=true", "body": None,
                "effects": [{"entity": f"group:{group}", "exists": False}, {"entity": f"app:{db}", "exists": False},
                            {"entity": f"app:{web}", "exists": False}]}

    def _job_op(self, job: str) -> dict[str, Any]:
        rng, entity = self.rng, f"job:{job}"
        if job not in self.jobs:
            self.jobs.add(job)
            body = {"id": job, "run": {"cmd": f"sleep {rng.randint(1, 3)}", "cpus": 0.01, "mem": 32, "disk": 0}}
            return {"op": "create_job", "method": "POST", "path": "/v1/jobs", "body": body,
                    "effects": [{"entity": entity, "fields": {}}]}
        if rng.random() < 0.7:
            return {"op": "run_job", "method": "POST", "path": f"/v1/jobs/{job}/runs", "body": {}, "effects": []}
        self.jobs.discard(job)
        return {"op": "delete_job", "method": "DELETE", "path": f"/v1/jobs/{job}?stopCurrentJobRuns=true",
                "body": None, "effects": [{"entity": entity, "exists": False}]}


def plan_client(seed: int, client: int, duration: float) -> list[dict[str, Any]]:
    """The client's operations, each with ``at`` (seconds from the start) and ``pick`` (an instance index)."""
    rng = random.Random(f"{seed}/client/{client}")
    planner = _Planner(rng, client)
    plan: list[dict[str, Any]] = []
    at = rng.uniform(0.5, 2.0)
    while at < duration:
        op = planner.next()
        op.update({"at": round(at, 3), "pick": rng.randrange(1000), "client": client, "seq": len(plan)})
        plan.append(op)
        at += rng.uniform(0.5, 3.0)
    return plan


def _trim(body: Any) -> Any:
    if isinstance(body, dict):
        return {k: body[k] for k in ("version", "deploymentId", "message", "id") if k in body}
    return body if not isinstance(body, str) else body[:300]


class Client(threading.Thread):
    def __init__(self, harness: Harness, plan: list[dict[str, Any]], history: HistoryWriter,
                 clock: Callable[[], float], stop: threading.Event) -> None:
        super().__init__(name=f"chaos-client-{plan[0]['client'] if plan else 'idle'}", daemon=True)
        self.harness = harness
        self.plan = plan
        self.history = history
        self.clock = clock
        self.stop_event = stop
        self.counts = {"issued": 0, "ok": 0, "fail": 0, "indeterminate": 0}

    def run(self) -> None:
        for op in self.plan:
            if self.stop_event.wait(max(0.0, op["at"] - self.clock())):
                return
            self.issue(op)

    def issue(self, op: dict[str, Any]) -> None:
        instances = self.harness.instances
        order = [instances[(op["pick"] + n) % len(instances)] for n in range(len(instances))]
        target = next((i for i in order if i.alive), None)
        start = self.clock()
        if target is None:
            reply = Reply(0, None, "fail", "no live instance")
        else:
            reply = http(op["method"], target.url + op["path"], op["body"], timeout=REQUEST_TIMEOUT)
        end = self.clock()
        self.counts["issued"] += 1
        self.counts[reply.outcome] += 1
        self.history.write({"type": "op", **{k: v for k, v in op.items() if k != "at"}, "planned_at": op["at"],
                            "instance": target.slot if target else None, "start": start, "end": end,
                            "outcome": reply.outcome, "status": reply.status, "response": _trim(reply.body),
                            "error": reply.error})
