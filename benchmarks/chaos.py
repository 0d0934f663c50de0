"""Long nemesis runs (issue 18). Prints figures; the verdict is the checker's.

Starts the chaos harness (tests/chaos/harness.py: a ZooKeeper ensemble of three, `mesospaas local-mesos` in
process mode, three `mesospaas serve` instances behind fault-injecting proxies), runs the seeded clients and
nemesis for N minutes, lets the system settle, and prints: operations issued, acknowledged, failed and
indeterminate; faults injected by kind; violations found; the time to converge after the last fault.
The history file (JSON lines) replays from its seed: the same seed gives the same schedule of operations and
faults. Exit status 1 when the checker finds a violation.

Usage: .venv/bin/python benchmarks/chaos.py --minutes 30 --seed 7 [--work-dir DIR]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.chaos.nemesis import KINDS  # noqa: E402
from tests.chaos.run import run_chaos  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="how long clients and nemesis run")
    parser.add_argument("--seed", type=int, default=1, help="seeds the operations and the faults")
    parser.add_argument("--work-dir", default=None, help="logs and history (default: a new temporary directory)")
    parser.add_argument("--kinds", default=",".join(KINDS), help="fault kinds, comma-separated")
    parser.add_argument("--settle-deadline", type=float, default=600.0,
                        help="seconds the system gets to settle after the faults stop")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    kinds = tuple(k for k in args.kinds.split(",") if k)
    unknown = set(kinds) - set(KINDS)
    if unknown:
        parser.error(f"unknown fault kinds {sorted(unknown)}; known: {', '.join(KINDS)}")
    base = Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix="mesospaas-chaos-"))
    result = run_chaos(base, args.seed, args.minutes * 60, kinds, every_kind_first=True,
                       settle_deadline=args.settle_deadline)
    counts = result.counts
    print(f"seed {result.seed}, {args.minutes:g} minutes, history {result.history}")
    print(f"operations issued {counts['issued']}, acknowledged {counts['ok']}, failed {counts['fail']}, "
          f"indeterminate {counts['indeterminate']}")
    print("faults injected: " + ", ".join(f"{k} {v}" for k, v in sorted(result.faults.items())))
    for kind, why in sorted(result.skipped.items()):
        print(f"  not injected: {kind}: {why}")
    print(f"samples {result.samples}")
    print(f"violations found: {len(result.violations)}")
    for violation in result.violations[:100]:
        print(f"  {violation}")
    print("time to converge after the last fault: "
          + (f"{result.converge_seconds:.1f} s" if result.converge_seconds is not None else "did not converge"))
    return 1 if result.violations else 0


if __name__ == "__main__":
    sys.exit(main())
