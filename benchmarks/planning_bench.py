"""Planning figures (issue 11): the CPU cost of planning one app change, by the shape of the root.

Runs, per change, the chain the leader's runtime runs for an API change (``SchedulerRuntime.deploy``'s
``prepare`` and ``_deploy_together`` in ``scheduler/runtime.py``):

    root.update_app(app) -> with_service_ports(...) -> assign_versions(original, edited, now)
    -> plan(original, target, now, ids, original_acyclic=True) -> changed_parts(root, target)
    -> pruned(deployment)

for two kinds of change: creating one new app (a 0 service port, assigned from the range) and scaling one
existing app (its port reused), each against the root the previous change left (as a leader does). Shapes:

- ``flat-1000`` / ``flat-10000``: one group ``/bench`` holding 1,000 / 10,000 apps (``write_bench.py``'s);
- ``nested-100x100``: 100 groups ``/gNN`` of 100 apps each.

Every app is what ``POST /v2/apps`` makes of ``{"id", "cmd", "cpus", "mem", "instances": 5}`` (through
``api.schemas.load_app``, outside the timed chain, as the API does it before the runtime sees it), with a
stored service port. The range is [10000, 40000) so that 10,000 apps plus the new ones fit (Marathon's
default [10000, 20000) holds exactly 10,000). The service-port index is moved after each change as the
runtime does after its commit (not timed).

Prints, per shape and kind, the mean / p50 / p99 wall-clock microseconds per change, the mean CPU time of
the process per change (less disturbed by other busy processes) and the load average. Asserts
nothing. ``--profile`` prints the top of a cProfile of the chain for each shape and kind.

Usage: .venv/bin/python benchmarks/planning_bench.py [--changes 300] [--shapes flat-1000,flat-10000,nested-100x100]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import random
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from api.schemas import load_app  # noqa: E402
from mesospaas.deploy import assign_versions, plan, pruned  # noqa: E402
from mesospaas.model.app import AppSpec, PortDefinition  # noqa: E402
from mesospaas.model.deployment import DeploymentPlan, random_deployment_ids  # noqa: E402
from mesospaas.model.group import Group  # noqa: E402
from mesospaas.model.group_parts import changed_parts  # noqa: E402
from mesospaas.model.ids import AppId, AppVersion  # noqa: E402
from mesospaas.routing.service_ports import (  # noqa: E402
    PortRange,
    ServicePortIndex,
    ServicePortRejected,
    service_ports,
    with_service_ports,
)

PORTS = PortRange(10000, 40000)
SHAPES = {"flat-1000": (1, 1000), "flat-10000": (1, 10000), "nested-100x100": (100, 100)}


def body(app_id: str, instances: int = 5) -> dict[str, Any]:
    return {"id": app_id, "cmd": "sleep 600", "cpus": 0.01, "mem": 8, "instances": instances}


def encoded(definition: dict[str, Any]) -> bytes:
    return json.dumps(definition, separators=(",", ":"), sort_keys=True).encode()


class Leader:
    """The state the chain reads: the root, each app's current definition and the service-port index."""

    def __init__(self, groups: int, per_group: int) -> None:
        template = load_app(body("/template"))
        specs: list[AppSpec] = []
        self.definitions: dict[AppId, bytes] = {}
        self.ports = ServicePortIndex()
        version = AppVersion("2026-01-01T00:00:00Z")
        for n in range(groups * per_group):
            app_id = AppId(self.app_path(groups, n // per_group, n % per_group))
            port = PORTS.low + n
            definition = dict(template.definition, id=app_id, portDefinitions=[
                {"port": port, "protocol": "tcp", "name": "default"}])
            specs.append(replace(template.spec, id=app_id, version=version,
                                 port_definitions=(PortDefinition(port, name="default"),)))
            self.definitions[app_id] = encoded(definition)
            self.ports.put(app_id, [port])
        self.groups = groups
        self.root = Group.of(specs, version=version)
        self.ids = random_deployment_ids(random.Random(7))
        self.now = 1_800_000_000.0
        self.created = 0

    @staticmethod
    def app_path(groups: int, group: int, n: int) -> str:
        return f"/bench/app{n:05d}" if groups == 1 else f"/g{group:02d}/app{n:05d}"

    def change(self, spec: AppSpec, raw: bytes) -> tuple[float, float, DeploymentPlan]:
        """Runs the chain for putting ``spec`` (with definition ``raw``); (seconds, CPU seconds, pruned plan)."""
        self.now += 0.001
        original, now = self.root, self.now
        started, cpu = time.perf_counter(), time.process_time()
        edited = original.update_app(spec)
        assigned = with_service_ports(edited, {spec.id: raw}, self.ports, PORTS,
                                      changed_parts(original, edited).deleted_apps)
        if isinstance(assigned, ServicePortRejected):
            raise SystemExit(assigned.message)
        edited, definitions = assigned
        target = assign_versions(original, edited, now)
        deployment = plan(original, target, now, self.ids, original_acyclic=True)
        assert isinstance(deployment, DeploymentPlan)
        changed_parts(original, deployment.target)
        stored = pruned(deployment)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        self.root = deployment.target
        self.definitions.update(definitions)
        self.ports.put(spec.id, service_ports(json.loads(definitions[spec.id])))
        return elapsed, cpu, stored

    def create_one(self) -> tuple[float, float]:
        group = self.created % self.groups
        app_id = f"/bench/new{self.created:05d}" if self.groups == 1 else f"/g{group:02d}/new{self.created:05d}"
        self.created += 1
        loaded = load_app(body(app_id))
        return self.change(loaded.spec, encoded(loaded.definition))[:2]

    def scale_one(self, rng: random.Random) -> tuple[float, float]:
        apps = list(self.root.groups.values())[rng.randrange(len(self.root.groups))].apps
        app = list(apps.values())[rng.randrange(len(apps))]
        definition = json.loads(self.definitions[app.id])
        definition["instances"] = app.instances + 1
        return self.change(replace(app, instances=app.instances + 1), encoded(definition))[:2]


def figures(samples: list[tuple[float, float]]) -> str:
    ordered = sorted(wall for wall, _ in samples)
    mean = sum(ordered) / len(ordered)
    p50, p99 = ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    cpu = sum(c for _, c in samples) / len(samples)
    return f"mean {mean * 1e6:8.1f} us  p50 {p50 * 1e6:8.1f} us  p99 {p99 * 1e6:8.1f} us  cpu mean {cpu * 1e6:8.1f} us"


def measure(name: str, changes: int, run: Callable[[], tuple[float, float]], profile: bool) -> None:
    for _ in range(5):
        run()  # warm up
    gc.collect()
    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    samples = [run() for _ in range(changes)]
    if profiler is not None:
        profiler.disable()
    print(f"  {name:<8} {figures(samples)}   ({changes} changes)")
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
        print(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=300, help="changes measured per shape and kind")
    parser.add_argument("--shapes", default=",".join(SHAPES), help="comma-separated shapes to run")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of each chain")
    args = parser.parse_args()
    rng = random.Random(11)
    for shape in args.shapes.split(","):
        groups, per_group = SHAPES[shape]
        leader = Leader(groups, per_group)
        print(f"{shape}: {groups * per_group} apps in {groups} group(s), µs per change (whole chain)")
        measure("create", args.changes, leader.create_one, args.profile)
        measure("scale", args.changes, lambda: leader.scale_one(rng), args.profile)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
