"""Job events on ``/v2/events``: one shape per run transition, only for subscribers that ask for them.

Owns: ``JOB_EVENT_TYPES`` and ``publish_job_event``. Types and shapes (every event also has ``eventType``
and ``timestamp``):

- ``job_run_initial``, ``job_run_starting``, ``job_run_active``, ``job_run_success``, ``job_run_failed``:
  ``{"jobId", "runId", "status", "previousStatus" (null for a new run), "trigger" (manual | schedule |
  dependency), "taskId" (the run's current task, or null), "reason" (why it failed or retries, or null)}``;
- ``job_trigger_skipped``: ``{"jobId", "scheduleId", "scheduledFor", "reason"}`` (FORBID, or a missed
  trigger under the catch-up policy).

Marathon has no such events and the released ``marathon`` client ends its stream on an unknown type, so the
bus delivers them ONLY to subscriptions whose ``event_type=`` filter names them (``scheduler.events``): an
unfiltered subscriber never sees one. Publishing never blocks and never raises (the bus drops slow subscribers as usual).
"""

from __future__ import annotations

from typing import Any

from mesospaas.jobs.spec import JobId
from mesospaas.jobs.step import Notify
from scheduler.events import EventBus, iso_timestamp

JOB_EVENT_TYPES = frozenset({"job_run_initial", "job_run_starting", "job_run_active", "job_run_success",
                             "job_run_failed", "job_trigger_skipped"})


def job_event_fields(job_id: JobId, notify: Notify) -> dict[str, Any]:
    if notify.skipped is not None:
        return {"jobId": job_id, "scheduleId": notify.skipped.schedule_id,
                "scheduledFor": iso_timestamp(notify.skipped.scheduled_for), "reason": notify.skipped.reason}
    run = notify.run
    assert run is not None
    task = run.current_task
    return {"jobId": job_id, "runId": run.id, "status": run.status.value,
            "previousStatus": notify.previous.value if notify.previous is not None else None,
            "trigger": run.trigger.value, "taskId": task.id if task is not None else None, "reason": run.reason}


def publish_job_event(bus: EventBus, job_id: JobId, notify: Notify, now: float) -> None:
    # Not a Marathon type: the bus offers it only to subscribers whose filter names it.
    if bus.wants(notify.event_type):
        bus.publish(notify.event_type, now, **job_event_fields(job_id, notify))


__all__ = ["JOB_EVENT_TYPES", "job_event_fields", "publish_job_event"]
