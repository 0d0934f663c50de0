"""The sampler of a nemesis run: every ``interval`` seconds one sample of what the cluster shows.

A sample (``type: sample``) holds, in this order of reading: the Mesos master's live tasks (``mesos``: [id, state]
of every non-terminal task of every framework, read from ``/master/state`` directly, not through a proxy), each
live instance's ``/v2/leader`` answer (``views``) and the agreed leader slot (``leader``), then from the leader the
apps (``apps``: id -> [instances, maximumOverCapacity]) and the apps under deployment (``deploying``). The Mesos
state is read first so that the API view is at least as new as it (a task the master shows was launched for a
definition the API already shows). A part that cannot be read is null; the checker skips nulls.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from tests.chaos.harness import Harness, http
from tests.chaos.history import HistoryWriter

TERMINAL = frozenset({"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST", "TASK_DROPPED",
                      "TASK_GONE", "TASK_GONE_BY_OPERATOR"})


def live_tasks(state: dict[str, Any]) -> list[list[str]]:
    return sorted([t["id"], t["state"]] for f in state.get("frameworks", ())
                  for key in ("tasks", "unreachable_tasks") for t in f.get(key, ()) if t["state"] not in TERMINAL)


def read_api(harness: Harness, url: str, timeout: float = 3.0) -> tuple[dict[str, Any] | None, list[str] | None]:
    apps = http("GET", f"{url}/v2/apps", timeout=timeout)
    deployments = http("GET", f"{url}/v2/deployments", timeout=timeout)
    app_view = None
    if apps.status == 200 and isinstance(apps.body, dict):
        app_view = {a["id"]: [a["instances"], (a.get("upgradeStrategy") or {}).get("maximumOverCapacity", 1.0)]
                    for a in apps.body.get("apps", ())}
    deploying = None
    if deployments.status == 200 and isinstance(deployments.body, list):
        deploying = sorted({app for d in deployments.body for app in d.get("affectedApps", ())})
    return app_view, deploying


class Sampler(threading.Thread):
    def __init__(self, harness: Harness, history: HistoryWriter, clock: Callable[[], float],
                 stop: threading.Event, interval: float = 0.5) -> None:
        super().__init__(name="chaos-sampler", daemon=True)
        self.harness = harness
        self.history = history
        self.clock = clock
        self.stop_event = stop
        self.interval = interval
        self.count = 0

    def run(self) -> None:
        while not self.stop_event.is_set():
            began = self.clock()
            self.history.write(self.sample())
            self.count += 1
            self.stop_event.wait(max(0.0, self.interval - (self.clock() - began)))

    def sample(self) -> dict[str, Any]:
        t = self.clock()
        state = self.harness.master_state(timeout=3.0)
        views = self.harness.leader_views(timeout=1.5)
        leader = self.harness.leader_slot(views)
        apps, deploying = None, None
        if leader is not None:
            apps, deploying = read_api(self.harness, self.harness.instances[leader].url)
        return {"type": "sample", "t": t, "mesos": live_tasks(state) if state is not None else None,
                "views": {str(k): v for k, v in views.items()}, "leader": leader, "apps": apps,
                "deploying": deploying}
