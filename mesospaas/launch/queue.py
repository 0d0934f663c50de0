"""The launch queue: a *view* over instances, never a second copy of the truth.

Owns: ``launch_queue`` and its result types. An instance is queued when its goal is RUNNING and it has no
live task (never launched, or its last task ended); an app's queued instances are *delayed* while the app
is in backoff. ``LaunchQueue.pending`` is what the shell hands to ``place()``; ``delayed`` feeds
``/v2/queue`` (``delay.timeLeftSeconds``) and the shell's wake-up timer.

Order: apps by their oldest queued instance, instances oldest first (by ``since``, then id), so no app
starves behind a big one. Invariant: recomputed from the snapshot every time; holds no state.
Fails: never raises (instances of apps missing from the snapshot are ignored — the reconciler expunges them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mesospaas.launch.backoff import Backoff, delayed_until
from mesospaas.model.ids import AppId
from mesospaas.model.instance import Instance
from mesospaas.model.snapshot import Snapshot


@dataclass(frozen=True, slots=True)
class QueueEntry:
    app_id: AppId
    role: str
    instances: tuple[Instance, ...]
    delayed_until: float | None = None
    """None: launchable now; otherwise the time the app's backoff ends."""


@dataclass(frozen=True, slots=True)
class LaunchQueue:
    entries: tuple[QueueEntry, ...]

    @property
    def pending(self) -> tuple[Instance, ...]:
        """Instances to offer to ``place()`` now, in queue order."""
        return tuple(i for e in self.entries if e.delayed_until is None for i in e.instances)

    @property
    def delayed(self) -> tuple[QueueEntry, ...]:
        return tuple(e for e in self.entries if e.delayed_until is not None)

    @property
    def wanted_roles(self) -> frozenset[str]:
        """Roles for which offers are useful right now."""
        return frozenset(e.role for e in self.entries if e.delayed_until is None)

    @property
    def next_wake_up(self) -> float | None:
        """The earliest time a delayed entry becomes launchable."""
        times = [e.delayed_until for e in self.entries if e.delayed_until is not None]
        return min(times) if times else None


def _age_key(instance: Instance) -> tuple[float, str]:
    return instance.since, instance.id


def launch_queue(snapshot: Snapshot, backoffs: Mapping[AppId, Backoff], now: float) -> LaunchQueue:
    entries: list[tuple[tuple[float, str], QueueEntry]] = []
    for app_id, instances in snapshot.instances.items():
        app = snapshot.apps.get(app_id)
        if app is None:
            continue
        queued = sorted((i for i in instances if i.is_launchable), key=_age_key)
        if not queued:
            continue
        entry = QueueEntry(app_id, app.role, tuple(queued), delayed_until(backoffs.get(app_id), app, now))
        entries.append((_age_key(queued[0]), entry))
    entries.sort(key=lambda pair: pair[0])
    return LaunchQueue(tuple(entry for _, entry in entries))
