"""Health checks, the pure part: what a check result means, Marathon's rules, and when to probe.

Modules, one idea each: ``outcome`` (what a probe gave, HTTP classification, cause strings), ``record`` (the
per-check health record, the task's verdict, the seeded record after a failover), ``rules`` (Marathon's
grace / first success / kill rules for one result), ``mesos_status`` (Mesos' ``healthy`` flag -> the same
record), ``schedule`` (phase offsets, due times, start deadlines) and ``step`` (a batch of results for one
task -> changes and commands). Standard library only; no clock (``now`` is an argument).
"""

from mesospaas.health.mesos_status import from_mesos_status
from mesospaas.health.outcome import PASSED, Failed, Ignored, Outcome, Passed, Unknown, http_outcome, late_outcome
from mesospaas.health.record import CheckHealth, instance_healthy, seeded
from mesospaas.health.rules import TaskFacts, Transition, Verdict, next_health
from mesospaas.health.step import (CheckAliveChanged, CheckFailed, HealthCommand, HealthStep, InstanceHealthChanged,
                                   KillUnhealthy, ProbeResult, step)

__all__ = ["PASSED", "CheckAliveChanged", "CheckFailed", "CheckHealth", "Failed", "HealthCommand", "HealthStep",
           "Ignored", "InstanceHealthChanged", "KillUnhealthy", "Outcome", "Passed", "ProbeResult", "TaskFacts",
           "Transition", "Unknown", "Verdict", "from_mesos_status", "http_outcome", "instance_healthy",
           "late_outcome", "next_health", "seeded", "step"]
