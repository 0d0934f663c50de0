"""Which instances make their app's reconciliation change with time alone.

``reconcile_app`` is level-triggered: its result changes when its inputs change (the app, its instances, its
deployment step, its backoff), and the shell reconciles an app whenever one of those changes. Only a few
things make the result move with ``now`` alone, and those apps are the ones the periodic pass must look at
every time (every other app needs only an occasional safety-net visit):

- an UNREACHABLE instance: it becomes inactive (``inactiveAfterSeconds``: a replacement is scheduled), then
  expires (``expungeAfterSeconds``: it is expunged);
- an instance that should no longer run but still has a live task: its kill is sent again until Mesos
  confirms the end.

Pure; never raises.
"""

from __future__ import annotations

from mesospaas.model.condition import Condition
from mesospaas.model.instance import Goal, Instance


def waits_on_time(instance: Instance) -> bool:
    """Whether reconciling this instance's app may give another result later with nothing else changing."""
    return instance.condition is Condition.UNREACHABLE or (instance.goal is not Goal.RUNNING and instance.has_live_task)


__all__ = ["waits_on_time"]
