"""Tenancy figures (issue 17): what the Mesos-role rules and the scheduled runs' quota check cost in the core,
at 10,000 apps in 100 tenants and 1,000 jobs.

- ``role_violations``: the check every app/group change runs inside its deploy (one app changed);
- ``framework_roles``: the role set computed after every deployment start (UPDATE_FRAMEWORK when it changes);
- ``quota_usage``: the one read of the usage under each quota prefix a cron tick with due runs does;
- ``refusal_in`` + ``counted``: each due run's decision on top of that usage.

Pure functions on in-memory data; prints the median of several rounds; asserts nothing.

Usage: .venv/bin/python benchmarks/tenancy_roles_bench.py --apps 10000 --jobs 1000 --quotas 10
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mesospaas.jobs.admission import counted, quota_usage, refusal_in  # noqa: E402
from mesospaas.jobs.spec import JobId, JobSpec, RunSpec  # noqa: E402
from mesospaas.jobs.step import JobState  # noqa: E402
from mesospaas.model import AppId, AppSpec  # noqa: E402
from mesospaas.model.group import Group  # noqa: E402
from mesospaas.tenancy.quota import Quota  # noqa: E402
from mesospaas.tenancy.roles import framework_roles, role_violations  # noqa: E402


def median_ms(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=1_000)
    parser.add_argument("--quotas", type=int, default=10)
    parser.add_argument("--due", type=int, default=100, help="runs decided in one tick")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    apps = [AppSpec(id=AppId(f"/team-{i % 100:03d}/app-{i}"), cmd="sleep 600", cpus=0.1, mem=32.0)
            for i in range(args.apps)]
    root = Group.of(apps)
    enforced = root.group("/team-001")
    assert enforced is not None
    root = root.put_group(replace(enforced, enforce_role=True))
    after = root.update_app(AppSpec(id=AppId("/team-001/new"), cmd="sleep 600", role="team-001"))
    jobs = {JobId(f"team-{i % 100:03d}.job-{i}"): JobState(JobSpec(JobId(f"team-{i % 100:03d}.job-{i}"),
                                                                    RunSpec(cmd="true")))
            for i in range(args.jobs)}
    quotas = {f"/team-{i:03d}": Quota(cpus=1000.0, instances=10_000) for i in range(args.quotas)}
    due = list(jobs.values())[: args.due]

    def decide_tick() -> None:
        usage = quota_usage(quotas, apps, jobs)
        for state in due:
            if refusal_in(quotas, usage, state.spec) is None:
                usage = counted(quotas, usage, state.spec, 1)

    print(f"{args.apps} apps, {args.jobs} jobs, {args.quotas} quotas (median of {args.rounds})")
    violations = median_ms(lambda: role_violations(root, after, "*"), args.rounds)
    print(f"role_violations (one app changed): {violations:.2f} ms")
    print(f"framework_roles: {median_ms(lambda: framework_roles(after, '*'), args.rounds):.2f} ms")
    print(f"quota_usage: {median_ms(lambda: quota_usage(quotas, apps, jobs), args.rounds):.2f} ms")
    print(f"one tick deciding {args.due} due runs (usage read once): {median_ms(decide_tick, args.rounds):.2f} ms")


if __name__ == "__main__":
    main()
