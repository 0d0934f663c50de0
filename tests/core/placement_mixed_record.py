"""Record the decisions ``place()`` makes on the seeded mixed workloads, for the regression test.

    .venv/bin/python -m tests.core.placement_mixed_record      # rewrites data/placement_mixed_decisions.json

The workloads are ``benchmarks.placement_bench.mixed_workload`` (every kind of constraint and affinity in one
offer round) at small sizes, listed in ``CASES``. For each it records, in order, every launch (instance,
offer, agent, host ports), the declined offers, the unplaced instances and the per-app diagnostics.
``test_placement_mixed_decisions.py`` checks that the current placement code makes exactly these decisions.
The file was written by the placement code as it was before the issue-11 optimisations; rewrite it only for
a deliberate change of the algorithm (and say so in the change).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from benchmarks.placement_bench import mixed_workload
from mesospaas.placement import DEFAULT_PROFILE, PlacementResult, place

DATA = Path(__file__).parent / "data" / "placement_mixed_decisions.json"

CASES: dict[str, dict[str, int]] = {
    "roomy": {"n_agents": 300, "n_apps": 40, "running_per_app": 5, "pending_per_app": 6, "seed": 11},
    "crowded": {"n_agents": 120, "n_apps": 60, "running_per_app": 4, "pending_per_app": 8, "seed": 1011},
    "every-kind-once": {"n_agents": 60, "n_apps": 20, "running_per_app": 0, "pending_per_app": 12, "seed": 7},
}


def describe(result: PlacementResult) -> dict[str, Any]:
    """The decisions of a round as plain JSON data (launches in order)."""
    return {
        "launches": [
            [launch.instance_id, launch.offer_id, launch.agent.hostname, list(launch.host_ports)]
            for launch in result.launches
        ],
        "declines": list(result.declines),
        "unplaced": list(result.unplaced),
        "diagnostics": {
            app: {
                "processed": d.processed_offers,
                "used": d.used_offers,
                "launched": d.launched,
                "unplaced": d.unplaced,
                "rejects": {reason.value: n for reason, n in sorted(d.rejects.items(), key=lambda kv: kv[0].value)},
                "rejects_by_rule": dict(sorted(d.rejects_by_rule.items())),
            }
            for app, d in sorted(result.diagnostics.items())
        },
    }


def decisions(case: str) -> dict[str, Any]:
    """Run the placement code on one case and describe what it decided."""
    params = CASES[case]
    work = mixed_workload(
        params["n_agents"], params["n_apps"], params["running_per_app"], params["pending_per_app"], params["seed"]
    )
    result = place(work.snapshot, work.pending, work.offers, DEFAULT_PROFILE, random.Random(params["seed"]))
    return describe(result)


def main() -> None:
    recorded = {case: decisions(case) for case in CASES}
    DATA.parent.mkdir(parents=True, exist_ok=True)
    DATA.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
    for case, data in recorded.items():
        launches, unplaced, declines = len(data["launches"]), len(data["unplaced"]), len(data["declines"])
        print(f"{case}: {launches} launches, {unplaced} unplaced, {declines} declines")


if __name__ == "__main__":
    main()
