"""Placement benchmark: decisions per second, latency per decision, placement quality and memory.

    .venv/bin/python benchmarks/placement_bench.py [--quick] [--seed N]

For each kind of app (plain fit, UNIQUE hostname, GROUP_BY rack, MAX_PER rack, REQUIRED anti-affinity
against another app, and binpack) it places 10,000 instances (2,000 with --quick) over 1,000 and 10,000
agents spread over 3 racks and 10 zones, one offer per agent, and prints:

- decide/s: decisions per second of the decision loop (``PlacementRound.place_one``), and round/s including
  building the round (offer states, indexes) and ``result()`` (declines, diagnostics);
- p50 / p99 latency of one decision;
- quality: instances per host (max - min over the hosts the app may use) and per rack (max - min); for
  binpack the number of hosts used;
- then the peak RSS (``resource.getrusage``) of a fresh process holding 10,000 agents' offers and 50,000
  placed instances, after a placement round over them.

UNIQUE hostname cannot put 10,000 instances on 1,000 hosts, so that kind uses apps of at most one instance
per agent (10 apps of 1,000 over 1,000 agents; 1 app of 10,000 over 10,000). Anti-affinity: /cache runs on
every 5th host, the placed app must avoid it. Nothing here asserts on time; it prints figures.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mesospaas.model import (  # noqa: E402
    AffinityType,
    AgentId,
    AgentInfo,
    AppAffinity,
    AppSpec,
    Attribute,
    Constraint,
    Instance,
    InstanceId,
    Offer,
    OfferId,
    Operator,
    PlacementStrategy,
    Snapshot,
    Text,
    app_id,
    random_instance_ids,
    scheduled,
)
from mesospaas.model.condition import Condition  # noqa: E402
from mesospaas.model.resources import cpus, disk, mem, ports  # noqa: E402
from mesospaas.placement import DEFAULT_PROFILE, PlacementResult, PlacementRound  # noqa: E402

RACKS = 3
ZONES = 10
CACHE = app_id("/cache")


def make_agents(count: int, rng: random.Random) -> list[AgentInfo]:
    return [
        AgentInfo(
            AgentId(f"agent-{i}"),
            f"host-{i:05d}",
            (Attribute("rack", Text(f"rack-{i % RACKS}")), Attribute("zone", Text(f"zone-{i % ZONES}"))),
        )
        for i in range(count)
    ]


def make_offers(agents: Sequence[AgentInfo], rng: random.Random) -> list[Offer]:
    offers = []
    for n, agent in enumerate(agents):
        size = rng.choice((16, 32, 48, 64))
        offers.append(
            Offer(
                OfferId(f"offer-{n}"),
                agent,
                (cpus(size), mem(size * 4096.0), disk(500_000.0), ports((31000, 32000))),
            )
        )
    return offers


@dataclass
class Workload:
    apps: list[AppSpec]
    pending: list[Instance]
    existing: list[Instance]


def app_spec(path: str, instances: int, **fields: object) -> AppSpec:
    return AppSpec(id=app_id(path), instances=instances, cpus=0.5, mem=512.0, **fields)  # type: ignore[arg-type]


def workload(kind: str, n_instances: int, agents: Sequence[AgentInfo], rng: random.Random) -> Workload:
    ids = random_instance_ids(rng)
    existing: list[Instance] = []
    if kind == "unique":
        per_app = min(n_instances, len(agents))
        apps = [
            app_spec(f"/unique-{k}", per_app, constraints=(Constraint("hostname", Operator.UNIQUE),))
            for k in range(max(1, n_instances // per_app))
        ]
    elif kind == "group_by":
        apps = [app_spec("/web", n_instances, constraints=(Constraint("rack", Operator.GROUP_BY),))]
    elif kind == "max_per":
        limit = n_instances // RACKS + 100
        apps = [app_spec("/web", n_instances, constraints=(Constraint("rack", Operator.MAX_PER, str(limit)),))]
    elif kind == "anti_affinity":
        rule = AppAffinity(CACHE, AffinityType.ANTI_AFFINITY)
        cache = app_spec("/cache", len(agents) // 5)
        apps = [app_spec("/web", n_instances, affinity=(rule,)), cache]
        for agent in agents[::5]:
            instance = scheduled(ids(CACHE), CACHE, cache.version, 0.0)
            existing.append(_running_on(instance, agent))
    elif kind == "binpack":
        apps = [app_spec("/batch", n_instances, placement_strategy=PlacementStrategy.BINPACK)]
    else:
        apps = [app_spec("/web", n_instances)]
    pending = [
        scheduled(ids(app.id), app.id, app.version, 0.0) for app in apps if app.id != CACHE for _ in range(app.instances)
    ]
    return Workload(apps, pending, existing)


def _running_on(instance: Instance, agent: AgentInfo) -> Instance:
    from dataclasses import replace

    return replace(instance, condition=Condition.RUNNING, agent=agent, incarnation=1, started_at=0.0, staged_at=0.0)


@dataclass
class Figures:
    decisions: int
    placed: int
    decide_per_s: float
    round_per_s: float
    p50_us: float
    p99_us: float
    host_skew: int
    rack_skew: int
    hosts_used: int


def run_kind(kind: str, n_instances: int, n_agents: int, seed: int) -> Figures:
    rng = random.Random(seed)
    agents = make_agents(n_agents, rng)
    offers = make_offers(agents, rng)
    work = workload(kind, n_instances, agents, rng)
    snapshot = Snapshot.of(work.apps, work.existing)
    gc.collect()
    latencies: list[float] = []
    clock = time.perf_counter
    started = clock()
    placement_round = PlacementRound(snapshot, offers, DEFAULT_PROFILE, random.Random(seed))
    place_one = placement_round.place_one
    decide_started = clock()
    for instance in work.pending:
        before = clock()
        place_one(instance)
        latencies.append(clock() - before)
    decide_ended = clock()
    result = placement_round.result()
    ended = clock()
    latencies.sort()
    check_result(result)
    placed_hosts = Counter(l.agent.hostname for l in result.launches if l.app_id != CACHE)
    eligible = [a for i, a in enumerate(agents) if kind != "anti_affinity" or i % 5]
    per_host = [placed_hosts.get(a.hostname, 0) for a in eligible]
    host_skew = max(per_host) - min(per_host)
    if kind == "unique":
        doubled = [k for k, n in Counter((l.app_id, l.agent.hostname) for l in result.launches).items() if n > 1]
        if doubled:
            print(f"  warning: UNIQUE violated on {len(doubled)} (app, host) pairs", file=sys.stderr)
    racks = Counter(l.agent.field_value("rack") for l in result.launches if l.app_id != CACHE)
    decisions = len(work.pending)
    return Figures(
        decisions=decisions,
        placed=len(result.launches),
        decide_per_s=decisions / (decide_ended - decide_started),
        round_per_s=decisions / (ended - started),
        p50_us=latencies[len(latencies) // 2] * 1e6,
        p99_us=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1e6,
        host_skew=host_skew,
        rack_skew=max(racks.values()) - min(racks.get(f"rack-{r}", 0) for r in range(RACKS)),
        hosts_used=len(placed_hosts),
    )


def check_result(result: PlacementResult) -> None:
    """Sanity: the benchmark's workloads fit, so nothing should be left unplaced."""
    if result.unplaced:
        print(f"  warning: {len(result.unplaced)} unplaced", file=sys.stderr)


MEMORY_CHILD = r"""
import random, resource, sys
sys.path.insert(0, {root!r})
from benchmarks.placement_bench import memory_workload
memory_workload({seed})
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def memory_workload(seed: int) -> None:
    """Hold 10,000 agents' offers and 50,000 placed instances, then run a round of 1,000 decisions."""
    rng = random.Random(seed)
    agents = make_agents(10_000, rng)
    offers = make_offers(agents, rng)
    apps = [app_spec(f"/svc-{k}", 500) for k in range(100)]
    ids = random_instance_ids(rng)
    placed = [
        _running_on(scheduled(ids(app.id), app.id, app.version, 0.0), agents[rng.randrange(len(agents))])
        for app in apps
        for _ in range(app.instances)
    ]
    snapshot = Snapshot.of(apps, placed)
    waiting = [scheduled(ids(app.id), app.id, app.version, 0.0) for app in apps[:10] for _ in range(100)]
    placement_round = PlacementRound(snapshot, offers, DEFAULT_PROFILE, random.Random(seed))
    for instance in waiting:
        placement_round.place_one(instance)
    check_result(placement_round.result())


def peak_rss_mb(seed: int) -> float:
    root = str(Path(__file__).resolve().parents[1])
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD.format(root=root, seed=seed)],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(out.stdout.strip().splitlines()[-1]) / 1024.0


KINDS: dict[str, str] = {
    "plain": "plain fit",
    "unique": "UNIQUE hostname",
    "group_by": "GROUP_BY rack",
    "max_per": "rack:MAX_PER",
    "anti_affinity": "anti-affinity /cache",
    "binpack": "binpack",
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 instances per run instead of 10,000")
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args(argv)
    n_instances = 2_000 if args.quick else 10_000
    print(f"placement benchmark: {n_instances} instances per run, {RACKS} racks, {ZONES} zones, seed {args.seed}")
    print(
        f"python {sys.version.split()[0]}, K={DEFAULT_PROFILE.candidates_per_decision} candidates per decision, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start"
    )
    header = (
        f"{'kind':<22}{'agents':>7}{'placed':>8}{'decide/s':>10}{'round/s':>9}{'p50 us':>8}{'p99 us':>8}"
        f"{'host skew':>10}{'rack skew':>10}{'hosts':>7}"
    )
    print(header)
    print("-" * len(header))
    slowest = float("inf")
    for kind, label in KINDS.items():
        for n_agents in (1_000, 10_000):
            f = run_kind(kind, n_instances, n_agents, args.seed)
            if kind != "binpack":
                slowest = min(slowest, f.round_per_s)
            skew = "-" if kind == "binpack" else str(f.host_skew)
            print(
                f"{label:<22}{n_agents:>7}{f.placed:>8}{f.decide_per_s:>10.0f}{f.round_per_s:>9.0f}"
                f"{f.p50_us:>8.1f}{f.p99_us:>8.1f}{skew:>10}{f.rack_skew:>10}{f.hosts_used:>7}"
            )
    rss = peak_rss_mb(args.seed)
    print("-" * len(header))
    print(f"slowest kind (round/s, setup included): {slowest:.0f} decisions/s (target >= 10000)")
    print(f"peak RSS, 10,000 agents' offers + 50,000 instances + a 1,000-decision round: {rss:.0f} MB (target < 500)")
    print(f"process peak RSS of this benchmark: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
