"""Task reconciliation again, a few times, after each (re)subscription to Mesos.

Why: right after a Mesos master restart or failover the new master knows no task until each agent has
re-registered (transcript 94). It drops the explicit reconciliation of a task whose agent has not come back yet
(no answer at all), and its implicit answers cover only the tasks it knows by then. One round at subscription
time can therefore go unanswered; Mesos' reconciliation guide asks frameworks to retry with a backoff. Each
subscription starts a fresh schedule of follow-up rounds (``FOLLOW_UPS`` seconds after it); the runtime's tick
runs a round when one falls due, as it runs the periodic one (``reconciliation_interval``).

Owns only the schedule (times on the runtime's clock, handed in); the rounds themselves are the runtime's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FOLLOW_UPS = (2.0, 5.0, 10.0, 20.0, 40.0)
"""Seconds after a subscription at which reconciliation runs again (agents re-register within seconds)."""


@dataclass
class ReconcileFollowUps:
    due: list[float] = field(default_factory=list)

    def start(self, now: float) -> None:
        """A (re)subscription at ``now``: the follow-up rounds of an earlier one no longer matter."""
        self.due = [now + delay for delay in FOLLOW_UPS]

    def stop(self) -> None:
        """Disconnected: nothing to reconcile with until the next subscription."""
        self.due = []

    def take(self, now: float) -> bool:
        """True if a round is due at ``now`` (rounds missed meanwhile are taken as one)."""
        if not self.due or now < self.due[0]:
            return False
        self.due = [t for t in self.due if t > now]
        return True


__all__ = ["FOLLOW_UPS", "ReconcileFollowUps"]
