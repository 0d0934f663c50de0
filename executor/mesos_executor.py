"""The mesospaas executor: pymesos' ``MesosExecutorDriver`` callbacks -> supervised tasks -> status updates.

Owns ``MesospaasExecutor`` (the pymesos ``Executor``) and ``ExecutorDriver`` (pymesos' driver, which only adds
two facts pymesos drops: a KILL event's ``kill_policy`` and the ACKNOWLEDGED of each update). It speaks only the
Mesos v1 executor API, so it runs on a real agent exactly as on localmesos.

Per task (the scheduler gives each task its own executor; a second LAUNCH fails, as with Mesos' command
executor): TaskInfo.data -> ``TaskSpec`` (protocol module); TASK_STARTING, the command in its own session
(``executor.supervisor``), TASK_RUNNING, the Mesos health check (``executor.health``) and usage reports
(framework messages) while it runs; the terminal update with Mesos' texts. KILL: TASK_KILLING (when the
framework has TASK_KILLING_STATE), SIGTERM, SIGKILL after the grace period (the KILL's kill policy, else the
task's, else 3 s). SHUTDOWN: every task killed within the shutdown grace period, then exit.

Agent gone: without checkpointing the executor kills its tasks and exits at once; with checkpointing it
waits ``MESOS_RECOVERY_TIMEOUT`` (default 15 min) for the agent to come back (pymesos re-subscribes; updates not
acknowledged are re-sent), then kills its tasks and exits. After the last task's terminal update is
acknowledged (or 60 s without), the executor exits: ``done`` is set and ``executor.main`` stops the driver.

Fails: a callback never raises (pymesos would abort its thread): errors become TASK_FAILED or log lines.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymesos import Executor, MesosExecutorDriver, decode_data, encode_data
from pymesos.utils import parse_duration

from executor.process_tree import TreeUsage
from executor.reaper import Reaper
from executor.supervisor import Outcome, TaskProcess
from mesospaas.executor_protocol import (HealthDetail, ProtocolError, TaskSpec, UsageReport, decode_task_spec,
                                         encode_health, encode_usage)

log = logging.getLogger(__name__)

DEFAULT_KILL_GRACE = 3.0
"""Mesos' command executor's grace period when neither the KILL nor the task has a kill policy."""
ACK_WAIT = 60.0
USAGE_IDLE_WAIT = 0.25
DEFAULT_RECOVERY_TIMEOUT = 15 * 60.0
HEALTH_REASON = "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"
TERMINAL = frozenset({"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST", "TASK_DROPPED"})


@dataclass
class ExecutorSettings:
    sandbox: Path
    checkpoint: bool = False
    recovery_timeout: float = DEFAULT_RECOVERY_TIMEOUT
    shutdown_grace: float = 5.0
    default_kill_grace: float = DEFAULT_KILL_GRACE
    ack_wait: float = ACK_WAIT
    task_env: dict[str, str] = field(default_factory=dict)


def grace_of(kill_policy: dict[str, Any] | None) -> float | None:
    nanos = ((kill_policy or {}).get("grace_period") or {}).get("nanoseconds")
    return max(0.0, int(nanos) / 1e9) if nanos is not None else None


def settings_from_environment(env: dict[str, str], sandbox: Path, *, recovery_timeout: float | None = None,
                              default_kill_grace: float = DEFAULT_KILL_GRACE) -> ExecutorSettings:
    """What the agent's environment says (section 6.4 of the protocol reference). ``MESOS_CHECKPOINT`` is
    ``"1"`` or ``"0"`` (pymesos reads ``"0"`` as true; this does not)."""
    checkpoint = env.get("MESOS_CHECKPOINT") == "1"
    recovery = DEFAULT_RECOVERY_TIMEOUT
    if env.get("MESOS_RECOVERY_TIMEOUT"):
        recovery = parse_duration(env["MESOS_RECOVERY_TIMEOUT"])
    if recovery_timeout is not None:
        recovery = recovery_timeout
    grace = parse_duration(env["MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"]) \
        if env.get("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD") else 5.0
    task_env = {k: v for k, v in env.items() if not k.startswith("MESOSPAAS_EXECUTOR_")}
    return ExecutorSettings(sandbox=sandbox, checkpoint=checkpoint, recovery_timeout=recovery,
                            shutdown_grace=grace, default_kill_grace=default_kill_grace, task_env=task_env)


class ExecutorDriver(MesosExecutorDriver):  # type: ignore[misc]
    """pymesos' driver, telling the executor what pymesos itself drops (the KILL's kill policy, the ACKs)."""

    def on_kill(self, event: dict[str, Any]) -> None:
        self.executor.kill_policies[event["task_id"]["value"]] = event.get("kill_policy")
        super().on_kill(event)

    def on_acknowledged(self, event: dict[str, Any]) -> None:
        super().on_acknowledged(event)
        self.executor.acknowledged(event["task_id"]["value"], event["uuid"])


@dataclass
class _Task:
    info: dict[str, Any]
    spec: TaskSpec | None = None
    process: TaskProcess | None = None
    health: Any = None  # executor.health.HealthLoop while checks run
    latest: dict[str, Any] | None = None
    acked: bool = True
    healthy: bool | None = None
    kill_pending: float | None = None
    killing: bool = False
    killed_for_health: bool = False
    last_usage: tuple[float, float] | None = None  # (cpu seconds, wall time) of the previous report

    @property
    def task_id(self) -> str:
        return str(self.info["task_id"]["value"])

    @property
    def terminal(self) -> bool:
        return self.latest is not None and self.latest["state"] in TERMINAL


class MesospaasExecutor(Executor):  # type: ignore[misc]
    def __init__(self, settings: ExecutorSettings, reaper: Reaper, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.reaper = reaper
        self.clock = clock
        self.done = threading.Event()
        self.kill_policies: dict[str, dict[str, Any] | None] = {}
        self.tasks: dict[str, _Task] = {}
        self.driver: Any = None
        self.killing_state = False
        self._lock = threading.RLock()
        self._connected = threading.Event()
        self._recovery: threading.Timer | None = None
        self._shutting_down = False
        self._usage_thread = threading.Thread(target=self._report_usage, name="usage", daemon=True)

    # -- pymesos callbacks --------------------------------------------------------------------------------
    def registered(self, driver: Any, executor_info: Any, framework_info: Any, agent_info: Any) -> None:
        self.driver = driver
        capabilities = {c.get("type") for c in framework_info.get("capabilities") or [] if isinstance(c, dict)}
        self.killing_state = "TASK_KILLING_STATE" in capabilities
        self._connected.set()
        log.info("subscribed to agent %s as executor %s", (agent_info.get("id") or {}).get("value"),
                 executor_info["executor_id"]["value"])
        if not self._usage_thread.is_alive():
            self._usage_thread.start()

    def reregistered(self, driver: Any, agent_info: Any) -> None:
        log.info("re-subscribed to the agent")
        with self._lock:
            if self._recovery is not None:
                self._recovery.cancel()
                self._recovery = None
            self._connected.set()
            resend = [t for t in self.tasks.values() if t.latest is not None and not t.acked]
        for task in resend:  # pymesos never re-sends unacknowledged updates itself
            assert task.latest is not None
            self._send({k: v for k, v in task.latest.items() if k not in ("uuid", "timestamp")}, task)

    def disconnected(self, driver: Any) -> None:
        self._connected.clear()
        if self._shutting_down:
            return
        if not self.settings.checkpoint:
            log.warning("the agent went away and the framework does not checkpoint: killing tasks, exiting")
            threading.Thread(target=self._give_up, name="agent-gone", daemon=True).start()
            return
        with self._lock:
            if self._recovery is None:
                log.warning("the agent went away; waiting %.0fs for it to come back", self.settings.recovery_timeout)
                self._recovery = threading.Timer(self.settings.recovery_timeout, self._recovery_timed_out)
                self._recovery.daemon = True
                self._recovery.start()

    def launchTask(self, driver: Any, task_info: Any) -> None:
        self.driver = driver
        task = _Task(info=dict(task_info))
        with self._lock:
            others = [t for t in self.tasks.values() if not t.terminal]
            self.tasks[task.task_id] = task
        if others:
            self._update(task, "TASK_FAILED", "Attempted to run multiple tasks using the mesospaas executor",
                         reason="REASON_TASK_INVALID")
            return
        threading.Thread(target=self._run_task, args=(task,), name=f"task-{task.task_id}", daemon=True).start()

    def killTask(self, driver: Any, task_id: Any) -> None:
        task_id_value = str(task_id["value"])
        with self._lock:
            task = self.tasks.get(task_id_value)
        if task is None or task.terminal:
            log.info("kill of unknown or ended task %s", task_id_value)
            return
        policy = self.kill_policies.pop(task_id_value, None)
        grace = grace_of(policy)
        if grace is None:
            grace = grace_of(task.info.get("kill_policy"))
        self.kill(task, grace if grace is not None else self.settings.default_kill_grace)

    def frameworkMessage(self, driver: Any, message: str) -> None:
        log.info("framework message ignored (%d bytes)", len(decode_data(message)))

    def shutdown(self, driver: Any) -> None:
        """SHUTDOWN (or the driver giving up): every task killed and reported within the grace period."""
        log.info("shutting down")
        self._shutting_down = True
        self._kill_all(max(0.0, self.settings.shutdown_grace - 1.5))
        self.done.set()

    def error(self, driver: Any, message: str) -> None:
        log.error("the agent reports an error: %s", message)

    # -- acknowledgements -----------------------------------------------------------------------------------
    def acknowledged(self, task_id: str, uuid_b64: str) -> None:
        with self._lock:
            task = self.tasks.get(task_id)
            if task is None or task.latest is None or task.latest.get("uuid") != uuid_b64:
                return
            task.acked = True
            finished = all(t.terminal and t.acked for t in self.tasks.values())
        if finished:
            log.info("every task ended and was acknowledged: exiting")
            self.done.set()

    # -- tasks --------------------------------------------------------------------------------------------
    def _run_task(self, task: _Task) -> None:
        try:
            raw = decode_data(task.info.get("data") or "")
            task.spec = decode_task_spec(raw)
        except (ProtocolError, ValueError) as exc:
            self._update(task, "TASK_FAILED", f"Invalid mesospaas task data: {exc}", reason="REASON_TASK_INVALID")
            self._exit_after_ack()
            return
        self._update(task, "TASK_STARTING")
        process = TaskProcess(task.task_id, task.spec, self.settings.sandbox, dict(self.settings.task_env),
                              self.reaper)
        try:
            process.start()
        except OSError as exc:
            self._update(task, "TASK_FAILED", f"Failed to launch the command: {exc}")
            self._exit_after_ack()
            return
        with self._lock:
            task.process = process
            pending = task.kill_pending
        self._update(task, "TASK_RUNNING")
        if pending is not None:
            self.kill(task, pending)
        elif task.info.get("health_check"):
            self._start_health(task, process)
        outcome = process.wait()
        if task.health is not None:
            task.health.stop()
        self._terminal(task, outcome)
        self._exit_after_ack()

    def _start_health(self, task: _Task, process: TaskProcess) -> None:
        from executor.health import HealthLoop, check_spec  # only tasks with a check pay for the import
        try:
            spec = check_spec(task.info["health_check"])
        except (KeyError, TypeError, ValueError) as exc:
            log.error("task %s: unusable health check %s: %s", task.task_id, task.info["health_check"], exc)
            return
        env = dict(self.settings.task_env)
        env.update(task.spec.command.environment if task.spec else ())
        task.health = HealthLoop(task.task_id, spec, self.clock(),
                                 report=lambda record, healthy: self._health_update(task, record, healthy),
                                 kill=lambda cause: self._kill_unhealthy(task, cause), reaper=self.reaper,
                                 cwd=self.settings.sandbox, env=env, clock=self.clock)
        task.health.start()

    def _health_update(self, task: _Task, record: Any, healthy: bool) -> None:
        task.healthy = healthy
        if task.killing or task.terminal:
            return
        detail = HealthDetail(healthy=healthy, consecutive_failures=record.consecutive_failures,
                              last_failure_cause=record.last_failure_cause, last_failure_at=record.last_failure,
                              first_success_at=record.first_success)
        self._update(task, "TASK_RUNNING", record.last_failure_cause if not healthy else None,
                     reason=HEALTH_REASON, healthy=healthy, data=encode_health(detail))

    def _kill_unhealthy(self, task: _Task, cause: str) -> None:
        log.warning("task %s is unhealthy: %s", task.task_id, cause)
        task.killed_for_health = True
        grace = grace_of(task.info.get("kill_policy"))
        self.kill(task, grace if grace is not None else self.settings.default_kill_grace)

    def kill(self, task: _Task, grace: float) -> None:
        with self._lock:
            process = task.process
            if process is None:  # still starting: killed as soon as it runs
                task.kill_pending = grace if task.kill_pending is None else min(grace, task.kill_pending)
                return
            first = not task.killing
            task.killing = True
        if first and self.killing_state:
            self._update(task, "TASK_KILLING")
        if task.health is not None:
            task.health.stop()
        process.kill(grace)

    def _terminal(self, task: _Task, outcome: Outcome) -> None:
        extra: dict[str, Any] = {}
        if task.killed_for_health:  # Mesos: only the terminal update of a health kill carries ``healthy``
            extra["healthy"] = False
            extra["reason"] = HEALTH_REASON
        self._update(task, outcome.state, outcome.message, **extra)

    def _kill_all(self, grace: float) -> None:
        with self._lock:
            live = [t for t in self.tasks.values() if not t.terminal]
        for task in live:
            policy = grace_of(task.info.get("kill_policy"))
            self.kill(task, min(grace, policy) if policy is not None else min(grace, self.settings.default_kill_grace))
        deadline = time.monotonic() + grace + 5.0
        for task in live:
            while not task.terminal and time.monotonic() < deadline:
                time.sleep(0.05)

    def _give_up(self) -> None:
        self._shutting_down = True
        self._kill_all(0.0)
        self.done.set()

    def _recovery_timed_out(self) -> None:
        if self._connected.is_set():
            return
        log.warning("the agent did not come back within %.0fs: killing tasks, exiting",
                    self.settings.recovery_timeout)
        self._give_up()

    def _exit_after_ack(self) -> None:
        def wait() -> None:
            if not self.done.wait(self.settings.ack_wait):
                log.warning("no acknowledgement within %.0fs: exiting anyway", self.settings.ack_wait)
                self.done.set()
        with self._lock:
            if all(t.terminal for t in self.tasks.values()):
                threading.Thread(target=wait, name="ack-wait", daemon=True).start()

    # -- updates ------------------------------------------------------------------------------------------
    def _update(self, task: _Task, state: str, message: str | None = None, *, reason: str | None = None,
                healthy: bool | None = None, data: bytes | None = None) -> None:
        status: dict[str, Any] = {"task_id": {"value": task.task_id}, "state": state}
        if message:
            status["message"] = message
        if reason:
            status["reason"] = reason
        if healthy is not None:
            status["healthy"] = healthy
        if data is not None:
            status["data"] = encode_data(data)
        self._send(status, task)

    def _send(self, status: dict[str, Any], task: _Task) -> None:
        with self._lock:
            if task.terminal and status["state"] not in TERMINAL:
                return
            status = dict(status)
            driver = self.driver
            task.acked = False
            # pymesos fills uuid/timestamp/source in place; keep that copy to re-send after a reconnect
            task.latest = status
        if driver is None:
            return
        try:
            driver.sendStatusUpdate(status)
            log.info("task %s: %s %s", task.task_id, status["state"], status.get("message", ""))
        except Exception as exc:  # not connected, agent gone: re-sent after re-subscribing
            log.warning("task %s: could not send %s: %s", task.task_id, status["state"], exc)

    # -- usage ----------------------------------------------------------------------------------------------
    def _report_usage(self) -> None:
        """Reports each running task's usage every ``usage_interval_seconds``; sleeps until the next one is due
        (at most ``USAGE_IDLE_WAIT`` while no task runs): an idle executor costs next to no CPU."""
        next_due: dict[str, float] = {}
        while not self.done.is_set():
            now = time.monotonic()
            with self._lock:
                live = [t for t in self.tasks.values() if t.process is not None and not t.terminal]
            for task in live:
                assert task.spec is not None
                if next_due.get(task.task_id, 0.0) > now:
                    continue
                next_due[task.task_id] = now + task.spec.usage_interval_seconds
                self._send_usage(task)
            due = [next_due[t.task_id] for t in live if t.task_id in next_due]
            self.done.wait(max(0.01, min(due) - time.monotonic()) if due else USAGE_IDLE_WAIT)

    def usage_report(self, task: _Task) -> UsageReport:
        assert task.process is not None
        usage: TreeUsage = task.process.usage()
        wall = self.clock()
        cpu = usage.user_seconds + usage.system_seconds
        share = None
        if task.last_usage is not None and wall > task.last_usage[1]:
            share = max(0.0, (cpu - task.last_usage[0]) / (wall - task.last_usage[1]))
        task.last_usage = (cpu, wall)
        return UsageReport(task_id=task.task_id, timestamp=wall, cpu_user_seconds=usage.user_seconds,
                           cpu_system_seconds=usage.system_seconds, cpu_share=share, rss_bytes=usage.rss_bytes,
                           threads=usage.threads, processes=usage.processes)

    def _send_usage(self, task: _Task) -> None:
        if not self._connected.is_set() or self.driver is None:
            return
        try:
            report = self.usage_report(task)
            self.driver.sendFrameworkMessage(encode_data(encode_usage(report)))
        except Exception as exc:  # the agent may be going away; the next report will tell
            log.debug("usage report of %s not sent: %s", task.task_id, exc)

