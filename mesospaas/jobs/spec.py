"""Job definitions, as Metronome has them: ``JobSpec`` (what to run) and ``ScheduleSpec`` (when).

Owns the domain types, their defaults (Metronome's: 1 cpu, 128 MB, no disk, ``maxLaunchDelay`` 3600 s,
restart NEVER; schedules in UTC, ``startingDeadlineSeconds`` 900, ALLOW, enabled) and the id rules:

- job id: dot-separated segments, each ``[a-z0-9]([a-z0-9-]*[a-z0-9])?`` (``prod.example.app``);
- schedule id: ``^[a-z0-9][a-z0-9\\-]*[a-z0-9]+$``.

JSON <-> spec mapping belongs to the API layer (``api/schemas/job*.py``); the names here are the snake_case of
Metronome's. Invariant: immutable; mappings are copied into read-only proxies.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NewType

JobId = NewType("JobId", str)
RunId = NewType("RunId", str)

JOB_ID = re.compile(r"^([a-z0-9]([a-z0-9-]*[a-z0-9]+)*)([.][a-z0-9]([a-z0-9-]*[a-z0-9]+)*)*$")
SCHEDULE_ID = re.compile(r"^[a-z0-9][a-z0-9\-]*[a-z0-9]+$")
MIN_STARTING_DEADLINE = 60.0


class RestartPolicy(enum.Enum):
    NEVER = "NEVER"
    ON_FAILURE = "ON_FAILURE"


class ConcurrencyPolicy(enum.Enum):
    ALLOW = "ALLOW"
    FORBID = "FORBID"
    """A scheduled trigger is skipped (and recorded) while the job has an active run."""
    REPLACE = "REPLACE"
    """A scheduled trigger stops the active runs (FAILED, reason ``replaced``) and starts a new one."""


@dataclass(frozen=True, slots=True)
class JobConstraint:
    """``placement.constraints[]``: ``IS`` (alias ``EQ``), ``LIKE``, ``UNLIKE`` on an attribute or ``hostname``."""

    attribute: str
    operator: str
    value: str | None = None


@dataclass(frozen=True, slots=True)
class Artifact:
    uri: str
    extract: bool = True
    executable: bool = False
    cache: bool = False


@dataclass(frozen=True, slots=True)
class RunSpec:
    cmd: str | None = None
    args: tuple[str, ...] | None = None
    cpus: float = 1.0
    mem: float = 128.0
    disk: float = 0.0
    gpus: int = 0
    user: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    constraints: tuple[JobConstraint, ...] = ()
    artifacts: tuple[Artifact, ...] = ()
    max_launch_delay: float = 3600.0
    """Caps the retry backoff between attempts of one run (1 s, doubling)."""
    restart_policy: RestartPolicy = RestartPolicy.NEVER
    active_deadline_seconds: float | None = None
    """ON_FAILURE: no new attempt once this long has passed since the run was created (None: retry forever)."""
    task_kill_grace_period_seconds: float | None = None
    docker_image: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "env", MappingProxyType(dict(self.env)))


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    id: str
    cron: str
    timezone: str = "UTC"
    starting_deadline_seconds: float = 900.0
    concurrency_policy: ConcurrencyPolicy = ConcurrencyPolicy.ALLOW
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class JobSpec:
    id: JobId
    run: RunSpec = RunSpec()
    description: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    dependencies: tuple[JobId, ...] = ()
    schedules: tuple[ScheduleSpec, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", MappingProxyType(dict(self.labels)))

    def schedule(self, schedule_id: str) -> ScheduleSpec | None:
        return next((s for s in self.schedules if s.id == schedule_id), None)


def job_id_problem(text: str) -> str | None:
    if not JOB_ID.match(text):
        return f"must fully match regular expression '{JOB_ID.pattern}'"
    return None


def schedule_id_problem(text: str) -> str | None:
    if not SCHEDULE_ID.match(text):
        return f"must fully match regular expression '{SCHEDULE_ID.pattern}'"
    return None


__all__ = ["Artifact", "ConcurrencyPolicy", "JobConstraint", "JobId", "JobSpec", "MIN_STARTING_DEADLINE",
           "RestartPolicy", "RunId", "RunSpec", "ScheduleSpec", "job_id_problem", "schedule_id_problem"]
