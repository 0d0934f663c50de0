"""Batch jobs (Metronome's model): job specs, cron schedules, the run state machine, history, dependencies.

Pure core: standard library only, ``now`` is an argument. See ``step`` for the rules; the shell is
``scheduler/jobs.py`` (state, store, offers, statuses) and ``scheduler/job_timer.py`` (the cron tick).
"""

from mesospaas.jobs.cron import Cron, CronError, cron_problem, next_fire, parse_cron
from mesospaas.jobs.dependencies import dependency_problems, dependents, due_dependents
from mesospaas.jobs.history import FinishedRun, JobHistory
from mesospaas.jobs.run import JobRun, RunStatus, RunTask, Trigger, new_run_id, parse_run_task_id
from mesospaas.jobs.spec import (ConcurrencyPolicy, JobConstraint, JobId, JobSpec, RestartPolicy, RunId, RunSpec,
                                 ScheduleSpec)
from mesospaas.jobs.step import JobsConfig, JobState, StepResult, launchable_runs, next_run_at, step

__all__ = ["ConcurrencyPolicy", "Cron", "CronError", "FinishedRun", "JobConstraint", "JobHistory", "JobId",
           "JobRun", "JobSpec", "JobState", "JobsConfig", "RestartPolicy", "RunId", "RunSpec", "RunStatus",
           "RunTask", "ScheduleSpec", "StepResult", "Trigger", "cron_problem", "dependency_problems", "dependents",
           "due_dependents", "launchable_runs", "new_run_id", "next_fire", "next_run_at", "parse_cron",
           "parse_run_task_id", "step"]
