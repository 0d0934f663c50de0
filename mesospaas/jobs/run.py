"""Job runs: one execution of a job, its tasks, and the ids they carry.

Owns: ``RunStatus``, ``RunTask``, ``JobRun``, the run id format (``new_run_id``) and the task id scheme
(``run_task_id`` / ``parse_run_task_id``), and ``exit_code`` (from a Mesos status message).

- Run id: ``yyyyMMddHHmmss`` (UTC) followed by 5 random lowercase letters and digits, as Metronome's.
- Task id: ``<jobId>_<runId>.<attempt>`` (attempt >= 1). It cannot be an app task id (those carry
  ``.instance-<uuid>._app.<n>``), so the shell routes a status update to jobs or apps by its shape.

Statuses: ``INITIAL`` (persisted, waiting for an offer), ``STARTING`` (a task was sent to Mesos, or the run
waits for its next attempt), ``ACTIVE`` (a task reported staging, starting or running), then ``SUCCESS`` or
``FAILED``, both final: a finished run is never launched again.
"""

from __future__ import annotations

import enum
import random
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from mesospaas.jobs.spec import JobId, RunId

_RUN_ID_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"
_TASK = re.compile(r"^([a-z0-9][a-z0-9.-]*)_(\d{14}[a-z0-9]{5})\.(\d+)$")
_EXIT = re.compile(r"(?:exited with status|exit(?:ed)? (?:status|code)) (-?\d+)", re.IGNORECASE)


class RunStatus(enum.Enum):
    INITIAL = "INITIAL"
    STARTING = "STARTING"
    ACTIVE = "ACTIVE"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"

    @property
    def is_final(self) -> bool:
        return self in (RunStatus.SUCCESS, RunStatus.FAILED)


class Trigger(enum.Enum):
    MANUAL = "manual"
    SCHEDULE = "schedule"
    DEPENDENCY = "dependency"


@dataclass(frozen=True, slots=True)
class RunTask:
    id: str
    status: str = "TASK_STAGING"
    """The last Mesos state seen (``TASK_STAGING`` until Mesos says something)."""
    launched_at: float = 0.0
    started_at: float | None = None
    completed_at: float | None = None
    agent_id: str | None = None
    hostname: str | None = None
    exit_code: int | None = None
    message: str | None = None
    heard: bool = False
    """Mesos reported on this task at least once (False: it may never have reached Mesos)."""


@dataclass(frozen=True, slots=True)
class JobRun:
    id: RunId
    job_id: JobId
    created_at: float
    status: RunStatus = RunStatus.INITIAL
    trigger: Trigger = Trigger.MANUAL
    schedule_id: str | None = None
    scheduled_for: float | None = None
    """The cron time that triggered it (scheduled runs)."""
    starting_deadline_at: float | None = None
    """Scheduled runs: FAILED if not ACTIVE by then."""
    tasks: tuple[RunTask, ...] = ()
    failures: int = 0
    next_attempt_at: float | None = None
    """Waiting for a retry: not launched before this time."""
    waits_for: tuple[str, ...] = ()
    """Tasks of replaced runs that must be gone before this run launches (REPLACE)."""
    completed_at: float | None = None
    reason: str | None = None

    @property
    def current_task(self) -> RunTask | None:
        return self.tasks[-1] if self.tasks else None

    @property
    def has_live_task(self) -> bool:
        task = self.current_task
        return task is not None and task.status not in TERMINAL_TASK_STATES

    @property
    def next_task_id(self) -> str:
        return run_task_id(self.job_id, self.id, len(self.tasks) + 1)


TERMINAL_TASK_STATES = frozenset({"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_DROPPED",
                                  "TASK_GONE", "TASK_GONE_BY_OPERATOR", "TASK_UNKNOWN", "TASK_LOST"})
ACTIVE_TASK_STATES = frozenset({"TASK_STAGING", "TASK_STARTING", "TASK_RUNNING"})


def new_run_id(now: float, rng: random.Random) -> RunId:
    stamp = datetime.fromtimestamp(now, timezone.utc).strftime("%Y%m%d%H%M%S")
    return RunId(stamp + "".join(rng.choice(_RUN_ID_CHARS) for _ in range(5)))


def run_task_id(job: JobId, run: RunId, attempt: int) -> str:
    return f"{job}_{run}.{attempt}"


def parse_run_task_id(task: str) -> tuple[JobId, RunId, int] | None:
    """(job id, run id, attempt) of a job task id; None for any other task id."""
    match = _TASK.match(task)
    if match is None:
        return None
    return JobId(match.group(1)), RunId(match.group(2)), int(match.group(3))


def exit_code(state: str, message: str | None) -> int | None:
    """The exit code a status update reports: 0 for TASK_FINISHED, else the one in Mesos' message
    (``Command exited with status 3``), if any."""
    if state == "TASK_FINISHED":
        return 0
    if message:
        match = _EXIT.search(message)
        if match is not None:
            return int(match.group(1))
    return None


__all__ = ["ACTIVE_TASK_STATES", "JobRun", "RunStatus", "RunTask", "TERMINAL_TASK_STATES", "Trigger", "exit_code",
           "new_run_id", "parse_run_task_id", "run_task_id"]
