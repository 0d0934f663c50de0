"""Storage codec figures: µs per ``scheduler.codecs.encode`` (and per ``decode``) of the values the leader writes.

The values, as the runtime writes them:

- ``Instance``: running, on an agent with attributes, a host port, an IP address, health fields (what
  ``SchedulerRuntime._put_instance`` encodes on every status update);
- ``RunningDeployment``: the deployment of one new app with its plan pruned to that app (what
  ``_put_deployment`` encodes when a deployment starts and each time it moves on);
- ``AppSpec``: an app with most fields set (``tests/scheduler/test_codecs.rich_app``).

Each is timed twice, over values never encoded before (the encoder's memo of frozen objects does not apply):

- ``fresh``: every object of the value is new (a value built from scratch);
- ``update``: only the top object is new, its parts are those of the value encoded before (a status update
  replaces an instance's condition and times, a deployment moving on its step and supervision).

For each: µs per ``encode``, and, when the module has it, per ``encode_interpreted`` (the type hints walked
for every value and ``json.dumps``: the encoder before it was compiled), both the best of ``--rounds`` rounds
of ``--values`` values, their rounds interleaved, the garbage collector paused while they run; then µs per ``decode`` of the bytes (one pass) and the
size. Prints figures; asserts nothing.

Usage: .venv/bin/python benchmarks/codec_bench.py [--values 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mesospaas.deploy import assign_versions, plan, pruned  # noqa: E402
from mesospaas.deploy.supervision import started  # noqa: E402
from mesospaas.model import AgentId, AgentInfo, AppId, AppSpec, AppVersion, Attribute, Condition, Instance, \
    InstanceId, Scalar, Text  # noqa: E402
from mesospaas.model.constraints import Constraint, Operator  # noqa: E402
from mesospaas.model.deployment import DeploymentPlan, random_deployment_ids  # noqa: E402
from mesospaas.model.group import Group  # noqa: E402
from scheduler import codecs  # noqa: E402
from scheduler.runtime import RunningDeployment  # noqa: E402
from tests.scheduler.test_codecs import rich_app  # noqa: E402

Encode = Callable[[Any], bytes]


def running_instance(n: int) -> Instance:
    """A running, healthy instance on its own (new) agent, as a status update leaves it."""
    agent = AgentInfo(AgentId(f"a1b2c3d4-0000-4000-8000-{n % 500:012d}-S0"), f"10.0.{n % 500 // 250}.{n % 250}",
                      attributes=(Attribute("rack", Text(f"r{n % 10}")), Attribute("cores", Scalar(8.0))),
                      zone=f"z{n % 3}")
    now = 1_764_000_000.0 + n
    return Instance(id=InstanceId(f"load_team00_app{n:05d}.instance-{n:08x}-0000-4000-8000-{n:012x}"),
                    app_id=AppId(f"/load/team00/app{n:05d}"), app_version=AppVersion("2026-12-03T10:00:00.000Z"),
                    agent=agent, incarnation=1, condition=Condition.RUNNING, since=now, staged_at=now - 2,
                    started_at=now - 1, host_ports=(31000 + n % 1000,), ip_addresses=(agent.hostname,), healthy=True,
                    healthy_since=now, ready_at=now)


def new_app(n: int) -> AppSpec:
    """An app as users write them (``benchmarks/leader_load_bench.py``'s): env, labels, a constraint."""
    return AppSpec(id=AppId(f"/load/team{n % 20:02d}/app{n:05d}"), cmd=f"python3 -m http.server $PORT0 --n {n}",
                   cpus=0.1, mem=64.0, instances=5,
                   env={"APP_NAME": f"app{n:05d}", "LOG_LEVEL": "info", "TEAM": f"team{n % 20:02d}"},
                   labels={"HAPROXY_GROUP": "external", "HAPROXY_0_VHOST": f"app{n:05d}.example.com"},
                   constraints=(Constraint("hostname", Operator.UNIQUE),))


def running_deployment(root: Group, n: int) -> RunningDeployment:
    """The deployment that creates one new app in ``root`` (of 100 apps), its plan pruned to that app."""
    target = assign_versions(root, root.update_app(new_app(1000 + n)), 2.0 + n)
    deployment = plan(root, target, 2.0 + n, random_deployment_ids(random.Random(n)))
    assert isinstance(deployment, DeploymentPlan)
    return RunningDeployment(pruned(deployment), supervision=started(2.0 + n))


def fresh_copy(value: Any) -> Any:
    """An equal value of all-new objects (decoding builds every object anew)."""
    return codecs.decode(type(value), codecs.encode(value))


def per_value_us(encoders: dict[str, Encode], make_batches: Callable[[], list[list[Any]]]) -> dict[str, float]:
    """Best µs per value of each encoder: its rounds interleaved with the others' (a machine shared with other
    work slows them alike), each round over its own new values (none of them in a memo yet)."""
    batches = {label: make_batches() for label in encoders}
    best = dict.fromkeys(encoders, float("inf"))
    gc.collect()
    gc.disable()  # as timeit does: a collection's cost depends on all the process holds, not on the encoder
    try:
        for round_ in range(len(next(iter(batches.values())))):
            for label, encode in encoders.items():
                batch = batches[label][round_]
                t0 = time.perf_counter()
                for value in batch:
                    encode(value)
                best[label] = min(best[label], (time.perf_counter() - t0) / len(batch))
    finally:
        gc.enable()
    return {label: seconds * 1e6 for label, seconds in best.items()}


def figures(name: str, make_batches: Callable[[], list[list[Any]]], encoders: dict[str, Encode]) -> None:
    took = per_value_us(encoders, make_batches)
    line = f"  {name:<34}" + "".join(f" {label} {us:7.2f} µs" for label, us in took.items())
    if len(took) == 2:
        line += f" ({took['interpreted'] / took['encode']:4.1f}x)"
    values = make_batches()[0]
    raws = [codecs.encode(v) for v in values]
    t0 = time.perf_counter()
    for raw in raws:
        codecs.decode(type(values[0]), raw)
    line += f" | decode {(time.perf_counter() - t0) / len(raws) * 1e6:7.2f} µs | {sum(map(len, raws)) // len(raws)} B"
    print(line)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--values", type=int, default=2_000, help="values per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per figure (the best is printed)")
    args = parser.parse_args(argv)
    count, rounds = args.values, args.rounds
    print(f"codec benchmark: python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f} at start; {rounds} rounds of {count} values, best round")
    encoders: dict[str, Encode] = {"encode": codecs.encode}
    interpreted = getattr(codecs, "encode_interpreted", None)
    if interpreted is not None:
        encoders["interpreted"] = interpreted

    base = running_instance(0)
    seen = [0]

    def instance_updates() -> list[list[Instance]]:
        seen[0] += 1
        return [[replace(base, since=base.since + seen[0] * 1e6 + r * count + n, healthy=n % 2 == 0)
                 for n in range(count)] for r in range(rounds)]

    figures("Instance (fresh)", lambda: [[running_instance(r * count + n) for n in range(count)]
                                         for r in range(rounds)], encoders)
    figures("Instance (update: new condition)", instance_updates, encoders)

    root = assign_versions(Group.of(), Group.of([new_app(n) for n in range(100)]), 1.0)
    deployments = [running_deployment(root, n) for n in range(20)]

    def deployment_steps() -> list[list[RunningDeployment]]:
        seen[0] += 1
        return [[replace(deployments[n % 20], step_index=1, supervision=started(seen[0] * 1e6 + r * count + n))
                 for n in range(count)] for r in range(rounds)]

    figures("RunningDeployment (fresh)", lambda: [[fresh_copy(deployments[n % 20]) for n in range(count)]
                                                  for _ in range(rounds)], encoders)
    figures("RunningDeployment (update: step)", deployment_steps, encoders)
    app = rich_app()
    figures("AppSpec, many fields (fresh)", lambda: [[rich_app() for _ in range(count)] for _ in range(rounds)],
            encoders)

    def app_updates() -> list[list[AppSpec]]:
        seen[0] += 1
        return [[replace(app, instances=seen[0] * 1_000_000 + r * count + n) for n in range(count)]
                for r in range(rounds)]

    figures("AppSpec, many fields (update)", app_updates, encoders)
    print(f"  load average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
