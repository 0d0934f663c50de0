"""Job dependencies (newer Metronome): which jobs may depend on which, and which are due to run.

Owns: ``dependency_problems`` (the 422 checks of one job against the others), ``dependents`` (the 409 check
on delete) and ``due_dependents`` (jobs whose parents all succeeded since their own last start).

Rules: every parent must exist; the graph stays acyclic; a job with dependencies has no schedules. A job is
due when each parent's ``lastSuccessAt`` is after the job's own last start (or, never started, after the
job was created), and it has no unfinished run. Pure; fails never (problems are returned as values).
"""

from __future__ import annotations

from collections.abc import Mapping

from mesospaas.jobs.spec import JobId, JobSpec
from mesospaas.jobs.step import JobState


def dependency_problems(spec: JobSpec, others: Mapping[JobId, JobSpec]) -> list[tuple[str, str]]:
    """``(path, message)`` for each way ``spec`` breaks the dependency rules among ``others``."""
    problems: list[tuple[str, str]] = []
    if spec.dependencies and spec.schedules:
        problems.append(("/dependencies", "A job with dependencies cannot have schedules"))
    for index, parent in enumerate(spec.dependencies):
        if parent == spec.id:
            problems.append((f"/dependencies({index})", f"Job {spec.id} cannot depend on itself"))
        elif parent not in others:
            problems.append((f"/dependencies({index})", f"Dependency {parent} does not exist"))
    if not problems:
        graph = {job_id: other.dependencies for job_id, other in others.items() if job_id != spec.id}
        graph[spec.id] = spec.dependencies
        cycle = _cycle_through(spec.id, graph)
        if cycle:
            problems.append(("/dependencies", "Dependency cycle: " + " -> ".join(cycle)))
    return problems


def _cycle_through(start: JobId, graph: Mapping[JobId, tuple[JobId, ...]]) -> list[JobId]:
    """A path start -> ... -> start, if there is one."""
    stack: list[tuple[JobId, list[JobId]]] = [(start, [start])]
    seen: set[JobId] = set()
    while stack:
        node, path = stack.pop()
        for parent in graph.get(node, ()):
            if parent == start:
                return [*path, start]
            if parent not in seen:
                seen.add(parent)
                stack.append((parent, [*path, parent]))
    return []


def dependents(job_id: JobId, specs: Mapping[JobId, JobSpec]) -> list[JobId]:
    return sorted(other for other, spec in specs.items() if job_id in spec.dependencies)


def due_dependents(jobs: Mapping[JobId, JobState]) -> list[JobId]:
    due: list[JobId] = []
    for job_id, state in sorted(jobs.items()):
        parents = state.spec.dependencies
        if not parents or state.runs:
            continue
        since = state.last_started_at if state.last_started_at is not None else state.created_at
        ok = True
        for parent in parents:
            parent_state = jobs.get(parent)
            last = parent_state.history.last_success_at if parent_state is not None else None
            if last is None or last <= since:
                ok = False
                break
        if ok:
            due.append(job_id)
    return due


__all__ = ["dependency_problems", "dependents", "due_dependents"]
