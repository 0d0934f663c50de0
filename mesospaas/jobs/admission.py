"""Whether one more run of a job fits its tenant's quota (pure).

Owns: ``run_demand`` (what one run of a job holds: one instance of its run spec, under the job's tenant id,
``team-a.nightly`` -> ``/team-a/nightly``), ``run_demands`` (every unfinished run of every job), and the
admission decision the API makes for ``POST /v1/jobs/{id}/runs`` and the jobs shell makes for a run a
schedule or a dependency would start: the quotas one more run would cross beside what the apps and the
unfinished runs hold (``mesospaas.tenancy.quota``'s rule: a dimension over its limit that the run raises).

Two steps, so a tick over many due jobs reads the apps once: ``quota_usage`` (the usage under each quota
prefix) and ``refusal_in`` / ``violations_in`` (one run against that usage); ``counted`` adds runs that
started to the usage. ``run_refusal`` / ``run_violations`` do both for one decision. A REPLACE trigger stops
the job's own unfinished runs before its new one launches, so those do not count against it
(``replacing_runs``).

Fails: never (no quota, or no quota over the job's tenant: no refusal).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from mesospaas.jobs.spec import JobId, JobSpec
from mesospaas.jobs.step import JobState
from mesospaas.tenancy.grants import job_tenant, prefix_matches
from mesospaas.tenancy.quota import Demand, Quota, QuotaExceeded, Sized, Usage, crossed, usage_under


def run_demand(spec: JobSpec) -> Demand:
    """What one run of ``spec`` holds while it is unfinished."""
    return Demand(job_tenant(str(spec.id)), spec.run.cpus, spec.run.mem, spec.run.disk)


def run_demands(jobs: Mapping[JobId, JobState]) -> list[Demand]:
    """One ``Demand`` per unfinished run of every job."""
    return [run_demand(state.spec) for state in jobs.values() for _ in state.runs]


def quota_usage(quotas: Mapping[str, Quota], apps: Iterable[Sized],
                jobs: Mapping[JobId, JobState]) -> dict[str, Usage]:
    """The usage under each quota prefix: the apps' and the unfinished runs'."""
    held: list[Sized] = [*apps, *run_demands(jobs)]
    return {prefix: usage_under(prefix, held) for prefix in quotas}


def _covers(prefix: str, tenant_id: str) -> bool:
    return prefix_matches(prefix.rstrip("/") + "/**" if not prefix.endswith("/**") else prefix, tenant_id)


def violations_in(quotas: Mapping[str, Quota], usage: Mapping[str, Usage], spec: JobSpec, *,
                  replacing_runs: int = 0) -> list[QuotaExceeded]:
    """The quotas one more run of ``spec`` would cross on top of ``usage`` (less ``replacing_runs`` of it)."""
    demand = run_demand(spec)
    one = Usage.of_app(demand)
    found: list[QuotaExceeded] = []
    for prefix, quota in sorted(quotas.items()):
        if not _covers(prefix, demand.id):
            continue
        was = usage.get(prefix, Usage()) + Usage.of_app(demand, -replacing_runs)
        found += crossed(prefix, quota, was, was + one)
    return found


def refusal_in(quotas: Mapping[str, Quota], usage: Mapping[str, Usage], spec: JobSpec, *,
               replacing_runs: int = 0) -> str | None:
    """Why one more run of ``spec`` may not start (the quotas it would cross, named), or None: it may."""
    problems = violations_in(quotas, usage, spec, replacing_runs=replacing_runs)
    return "; ".join(p.message for p in problems) if problems else None


def counted(quotas: Mapping[str, Quota], usage: Mapping[str, Usage], spec: JobSpec, runs: int) -> dict[str, Usage]:
    """``usage`` with ``runs`` more (or, negative, fewer) unfinished runs of ``spec``."""
    demand = run_demand(spec)
    delta = Usage.of_app(demand, runs)
    return {prefix: used + delta if _covers(prefix, demand.id) else used for prefix, used in usage.items()}


def run_violations(quotas: Mapping[str, Quota], apps: Iterable[Sized], jobs: Mapping[JobId, JobState],
                   spec: JobSpec, *, replacing: bool = False) -> list[QuotaExceeded]:
    """The quotas one more run of ``spec`` would cross beside ``apps`` and the unfinished runs of ``jobs``."""
    if not quotas:
        return []
    own = jobs.get(spec.id)
    replacing_runs = len(own.runs) if replacing and own is not None else 0
    return violations_in(quotas, quota_usage(quotas, apps, jobs), spec, replacing_runs=replacing_runs)


def run_refusal(quotas: Mapping[str, Quota], apps: Iterable[Sized], jobs: Mapping[JobId, JobState],
                spec: JobSpec, *, replacing: bool = False) -> str | None:
    """``refusal_in`` for one decision (the usage computed for it)."""
    problems = run_violations(quotas, apps, jobs, spec, replacing=replacing)
    return "; ".join(p.message for p in problems) if problems else None


__all__ = ["counted", "quota_usage", "refusal_in", "run_demand", "run_demands", "run_refusal", "run_violations",
           "violations_in"]
