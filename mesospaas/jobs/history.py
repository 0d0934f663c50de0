"""A job's history: counts, last outcomes and its most recent finished runs, bounded.

Owns: ``FinishedTask``, ``FinishedRun``, ``JobHistory`` and ``recorded`` (fold a finished run in).

Invariant: ``successful_runs`` and ``failed_runs`` together hold at most ``limit`` runs (the most recent by
finish time; older ones are dropped, the counts keep counting). Pure; ``limit`` comes from the shell's flag
(default 1000 per job, as Metronome's ``metronome.history.count``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from mesospaas.jobs.run import JobRun, RunStatus, Trigger
from mesospaas.jobs.spec import RunId

DEFAULT_HISTORY_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class FinishedTask:
    id: str
    status: str
    exit_code: int | None = None
    started_at: float | None = None
    completed_at: float | None = None
    agent_id: str | None = None


@dataclass(frozen=True, slots=True)
class FinishedRun:
    id: RunId
    status: RunStatus
    created_at: float
    finished_at: float
    trigger: Trigger = Trigger.MANUAL
    reason: str | None = None
    tasks: tuple[FinishedTask, ...] = ()


@dataclass(frozen=True, slots=True)
class JobHistory:
    success_count: int = 0
    failure_count: int = 0
    last_success_at: float | None = None
    last_failure_at: float | None = None
    successful_runs: tuple[FinishedRun, ...] = ()
    """Newest first."""
    failed_runs: tuple[FinishedRun, ...] = ()
    """Newest first."""


def finished_run(run: JobRun) -> FinishedRun:
    return FinishedRun(id=run.id, status=run.status, created_at=run.created_at,
                       finished_at=run.completed_at if run.completed_at is not None else run.created_at,
                       trigger=run.trigger, reason=run.reason,
                       tasks=tuple(FinishedTask(t.id, t.status, t.exit_code, t.started_at, t.completed_at, t.agent_id)
                                   for t in run.tasks))


def recorded(history: JobHistory, run: JobRun, limit: int = DEFAULT_HISTORY_LIMIT) -> JobHistory:
    """``history`` with the finished ``run`` folded in, keeping at most ``limit`` runs."""
    entry = finished_run(run)
    if run.status is RunStatus.SUCCESS:
        history = replace(history, success_count=history.success_count + 1, last_success_at=entry.finished_at,
                          successful_runs=(entry, *history.successful_runs))
    else:
        history = replace(history, failure_count=history.failure_count + 1, last_failure_at=entry.finished_at,
                          failed_runs=(entry, *history.failed_runs))
    ok, failed = list(history.successful_runs), list(history.failed_runs)
    while len(ok) + len(failed) > max(0, limit):
        if ok and (not failed or ok[-1].finished_at <= failed[-1].finished_at):
            ok.pop()
        else:
            failed.pop()
    return replace(history, successful_runs=tuple(ok), failed_runs=tuple(failed))


__all__ = ["DEFAULT_HISTORY_LIMIT", "FinishedRun", "FinishedTask", "JobHistory", "finished_run", "recorded"]
