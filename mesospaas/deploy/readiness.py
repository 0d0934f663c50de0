"""Readiness checks (Marathon reference §4.4): which tasks to poll, where, and what an answer means.

Owns ``ProbeResponse``, ``ReadinessResult``, ``targets`` (the instances to poll now), ``probe_url`` and
``judge``. The shell (``scheduler.readiness_probes``) does the HTTP and the timing; the runtime records a
task's first ready answer as ``Instance.ready_at`` (persisted, so a new leader does not poll it again).

Rules, as Marathon's:

- Only during a deployment: the tasks polled are the RUNNING instances of the deploying version of an app
  that a running deployment affects and that has a readiness check (at most one per app), until ready.
- The task is ready on the first answer whose status is in ``httpStatusCodesForReady``; after that it is not
  polled again. Any other answer, a timeout or a refused connection is "not ready (yet)".
- The port is the task's host port of the port named ``portName``.
- ``lastResponse`` is kept only with ``preserveLastResponse``.

A deployment step counts an instance of its app's own version only once it is healthy *and* ready
(``reconcile.considered_available``), so an old task is stopped only after a new one is ready.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from mesospaas.model.app import AppSpec, ReadinessCheckSpec
from mesospaas.model.condition import Condition
from mesospaas.model.ids import AppId, TaskId
from mesospaas.model.instance import Goal, Instance


@dataclass(frozen=True, slots=True)
class ProbeResponse:
    status: int
    content_type: str
    body: str


@dataclass(frozen=True, slots=True)
class ReadinessResult:
    """One task's latest readiness answer (``readinessCheckResults`` items)."""

    name: str
    task_id: TaskId
    ready: bool
    last_response: ProbeResponse | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """A task to poll: its instance, the check and the URL."""

    instance: Instance
    check: ReadinessCheckSpec
    url: str


def probe_url(app: AppSpec, check: ReadinessCheckSpec, instance: Instance) -> str | None:
    """``http(s)://<task host>:<host port of portName><path>``; ``None`` when the task has no such port."""
    if instance.agent is None:
        return None
    names = [p.name for p in app.port_definitions]
    if check.port_name not in names:
        return None
    index = names.index(check.port_name)
    if index >= len(instance.host_ports):
        return None
    path = check.path if check.path.startswith("/") else "/" + check.path
    scheme = "https" if check.protocol == "HTTPS" else "http"
    return f"{scheme}://{instance.agent.hostname}:{instance.host_ports[index]}{path}"


def targets(deploying: Mapping[AppId, AppSpec], instances: Iterable[Instance]) -> list[Target]:
    """The tasks to poll now: for each app being deployed (its target spec), its running, not yet ready
    instances of that version."""
    out = []
    for instance in instances:
        app = deploying.get(instance.app_id)
        if app is None or not app.readiness_checks or instance.app_version != app.version:
            continue
        if instance.goal is not Goal.RUNNING or instance.condition is not Condition.RUNNING \
                or instance.ready_at is not None or instance.task_id is None:
            continue
        check = app.readiness_checks[0]
        url = probe_url(app, check, instance)
        if url is not None:
            out.append(Target(instance, check, url))
    return out


def judge(check: ReadinessCheckSpec, task: TaskId, response: ProbeResponse | None) -> ReadinessResult:
    """The result of one poll (``response`` ``None``: no answer in time, or no connection)."""
    ready = response is not None and response.status in check.http_status_codes_for_ready
    kept = response if check.preserve_last_response else None
    return ReadinessResult(check.name, task, ready, kept)


__all__ = ["ProbeResponse", "ReadinessResult", "Target", "judge", "probe_url", "targets"]
