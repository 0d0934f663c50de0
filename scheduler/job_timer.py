"""The cron timer of the jobs shell: which jobs need a ``Tick`` step now.

Owns: ``CronTimer``, a cache of each job's next due cron time, so a tick over thousands of jobs steps only
those with something to do (unfinished runs, killed tasks to confirm, a schedule whose time has come, a
schedule cursor to start). Time is whatever the runtime's injected ``clock`` says: the runtime's ticker calls
the jobs shell every ``tick_interval`` seconds with ``clock()``, so tests drive cron by moving their clock.

Invariant: the cache is keyed by (cron, zone, cursor, enabled): a changed schedule or a moved cursor is
recomputed; it holds no truth (dropping it only costs computation). ``fires`` says whether a cron time has
come (the shell then asks the tenant quota before the ``Tick``). Fails: never (an unparsable schedule is
"never due").
"""

from __future__ import annotations

from mesospaas.jobs.cron import CronError, next_fire, parse_cron, zone
from mesospaas.jobs.spec import JobId
from mesospaas.jobs.step import JobState

_Key = tuple[str, str, float, bool]


class CronTimer:
    def __init__(self) -> None:
        self._due: dict[JobId, tuple[_Key, float | None]] = {}

    def forget(self, job_id: JobId) -> None:
        self._due.pop(job_id, None)

    def due(self, state: JobState, now: float) -> bool:
        """Whether a ``Tick`` step of ``state`` can change anything at ``now``."""
        if state.runs or state.lingering:
            return True
        schedule = state.schedule
        if schedule is None or not schedule.enabled:
            return False
        return state.cursor is None or self.fires(state, now)

    def fires(self, state: JobState, now: float) -> bool:
        """Whether a cron time of ``state``'s schedule has come by ``now`` (a ``Tick`` may start a run)."""
        schedule = state.schedule
        if schedule is None or not schedule.enabled or state.cursor is None:
            return False
        key = (schedule.cron, schedule.timezone, state.cursor, schedule.enabled)
        cached = self._due.get(state.spec.id)
        if cached is None or cached[0] != key:
            try:
                at = next_fire(parse_cron(schedule.cron), state.cursor, zone(schedule.timezone))
            except CronError:
                at = None
            cached = (key, at)
            self._due[state.spec.id] = cached
        return cached[1] is not None and cached[1] <= now


__all__ = ["CronTimer"]
