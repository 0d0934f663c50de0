"""One Mesos *command task* run as a real process, the way ``mesos-executor`` does it.

This module owns the life of a single command task (a TaskInfo with ``command``) on a
local agent: spawning the process, turning its end into the terminal TaskStatus, killing it
with SIGTERM/SIGKILL escalation, the ``max_completion_time`` timer and the task's health
check (via :mod:`localmesos.health_check`).  It emits the status updates the built-in
command executor sends (reference §6.5, transcript surprises 16-18); the agent adds
``agent_id``, ``executor_id`` and ``container_status`` before forwarding them.

Status updates (each a fresh dict with ``task_id``, ``state``, ``source: SOURCE_EXECUTOR``,
``timestamp`` and a base64 ``uuid``; ``message``/``reason``/``healthy`` only when set):

* ``TASK_STARTING`` then, once spawned, ``TASK_RUNNING`` (neither carries ``healthy``);
* health: ``TASK_RUNNING`` + ``reason: REASON_TASK_HEALTH_CHECK_STATUS_UPDATED`` + ``healthy``;
* ``TASK_KILLING`` when killed and the framework has TASK_KILLING_STATE (not for the
  ``max_completion_time`` kill, as in Mesos);
* terminal: ``TASK_FINISHED "Command exited with status 0"``; ``TASK_FAILED "Command exited
  with status N"`` / ``"Command terminated with signal <strsignal>"`` (no reason);
  ``TASK_KILLED`` with the same message forms when we killed it (even if it then exited 0);
  ``TASK_FAILED`` + ``REASON_MAX_COMPLETION_TIME_REACHED`` for the completion timer;
  ``healthy: false`` on the terminal update when the kill came from the health check.

Failure behaviour: :meth:`CommandTask.start` never raises for a task that cannot run; a
spawn failure (missing binary, bad sandbox, missing ``command.value``) becomes
``TASK_FAILED "Failed to launch command: ..."`` after ``TASK_STARTING``.  Exceptions raised
by the ``on_status`` callback are logged and swallowed so they cannot wedge the task.
kill/shutdown before start, during start, repeated, or after the end are all safe.
The process runs in its own session; SIGTERM/SIGKILL go to its process group *and* to every
descendant found in ``/proc``; when the main process ends, whatever is left of its group and
tree is SIGKILLed (a real agent destroys the container at that point).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import pathlib
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Literal

from localmesos.clock import LOOP_CLOCK, Clock, Timer
from localmesos.environment import resolve_variables
from localmesos.health_check import (
    HealthCheckConfig,
    HealthChecker,
    Probe,
    HealthUpdate,
    make_probe,
    parse_health_check,
)
from localmesos.process_stats import process_tree_pids

__all__ = ["CommandTask", "StatusCallback", "TERMINAL_STATES", "new_status_uuid"]

logger = logging.getLogger(__name__)

StatusCallback = Callable[[dict[str, Any]], None]

TERMINAL_STATES = frozenset(
    {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST", "TASK_DROPPED",
     "TASK_GONE", "TASK_GONE_BY_OPERATOR"}
)

REASON_HEALTH = "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"
REASON_MAX_COMPLETION = "REASON_MAX_COMPLETION_TIME_REACHED"
REASON_KILLED_DURING_LAUNCH = "REASON_TASK_KILLED_DURING_LAUNCH"

# Mesos `os::host_default_path()`: used only when the given environment has no PATH.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_KillCause = Literal["kill", "health", "max_completion"]


def new_status_uuid() -> str:
    """A random status-update UUID as Mesos puts it in JSON: standard base64 of 16 bytes."""
    return base64.b64encode(uuid.uuid4().bytes).decode("ascii")


def _signal_name(signum: int) -> str:
    try:
        return signal.strsignal(signum) or f"Unknown signal {signum}"
    except ValueError:
        return f"Unknown signal {signum}"


def _exit_message(returncode: int) -> str:
    if returncode < 0:
        return f"Command terminated with signal {_signal_name(-returncode)}"
    return f"Command exited with status {returncode}"


def _nanos_to_seconds(duration: Any) -> float | None:
    """``{"nanoseconds": N}`` (N may be a string) → seconds; ``None`` if absent/invalid."""
    if not isinstance(duration, Mapping) or duration.get("nanoseconds") is None:
        return None
    try:
        return max(0.0, int(duration["nanoseconds"]) / 1e9)
    except (TypeError, ValueError):
        logger.warning("ignoring invalid duration %r", duration)
        return None


def _as_bool(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() not in ("false", "0", "")
    return bool(value)


class CommandTask:
    """Runs one Mesos command task (TaskInfo JSON with 'command') as a real subprocess, like mesos-executor."""

    def __init__(
        self,
        task_info: dict[str, Any],
        *,
        sandbox: pathlib.Path,
        environment: dict[str, str],
        on_status: StatusCallback,
        killing_state: bool = False,
        default_grace_period: float = 3.0,
        clock: Clock = LOOP_CLOCK,
    ) -> None:
        self._clock = clock  # the kill grace period and max_completion_time run on it (see clock.py)
        self._task_info = task_info
        self._task_id: str = str((task_info.get("task_id") or {}).get("value", ""))
        self._command: Mapping[str, Any] = task_info.get("command") or {}
        self._sandbox = pathlib.Path(sandbox)
        self._base_environment = dict(environment)
        self._on_status = on_status
        self._killing_state = killing_state
        self._default_grace_period = default_grace_period
        self._kill_policy_grace = _nanos_to_seconds(
            (task_info.get("kill_policy") or {}).get("grace_period")
        )
        self._max_completion = _nanos_to_seconds(task_info.get("max_completion_time"))

        self._process: asyncio.subprocess.Process | None = None
        self._started = False
        self._launched = False  # spawned and TASK_RUNNING sent
        self._reaped = False
        self._killed = False
        self._killed_by_health = False
        self._killed_by_max_completion = False
        self._pending_kills: list[tuple[float, _KillCause]] = []
        self._kill_started_at: float | None = None  # clock time
        self._escalation: Timer | None = None
        self._escalation_at: float | None = None  # clock time
        self._completion_timer: Timer | None = None
        self._health: HealthChecker | None = None
        self._reaper: asyncio.Task[None] | None = None
        self._last_status: dict[str, Any] | None = None
        self._terminal_status: dict[str, Any] | None = None
        self._done = asyncio.Event()

    # ------------------------------------------------------------------ properties

    @property
    def task_id(self) -> str:
        """The task id (``task_info.task_id.value``)."""
        return self._task_id

    @property
    def pid(self) -> int | None:
        """PID of the task's main process (also its process-group id), once spawned."""
        return self._process.pid if self._process is not None else None

    @property
    def terminal(self) -> bool:
        """Whether the terminal status update has been emitted."""
        return self._terminal_status is not None

    @property
    def last_status(self) -> dict[str, Any] | None:
        """A copy of the last status update emitted (``None`` before the first)."""
        return dict(self._last_status) if self._last_status is not None else None

    # ------------------------------------------------------------------ public API

    async def start(self) -> None:
        """Emit TASK_STARTING, spawn the command, emit TASK_RUNNING, start health checks.

        Never raises because of the task itself: failures become a terminal TASK_FAILED.
        Calling it again, or after the task was killed before starting, does nothing.
        """
        if self._started:
            logger.warning("task %s: start() called twice; ignored", self._task_id)
            return
        self._started = True
        if self._terminal_status is not None:  # killed before it was started
            return
        self._emit("TASK_STARTING")
        loop = asyncio.get_running_loop()
        if self._max_completion is not None and self._max_completion > 0:
            self._completion_timer = self._clock.call_later(
                self._max_completion, self._max_completion_reached
            )
        try:
            self._process = await self._spawn()
        except Exception as exc:  # OSError, ValueError, anything the spawn raises
            self._cancel_completion_timer()
            message = f"Failed to launch command: {exc}"
            logger.warning("task %s: %s", self._task_id, message)
            self._append_stderr(message + "\n")
            self._finish("TASK_FAILED", message)
            return
        logger.info("task %s: forked command at %d", self._task_id, self._process.pid)
        self._reaper = loop.create_task(self._reap(), name=f"reap:{self._task_id}")
        self._launched = True
        self._emit("TASK_RUNNING")
        pending, self._pending_kills = self._pending_kills, []
        for grace, cause in pending:
            self._request_kill(grace, cause)
        if not self._killed:
            self._start_health_check()

    async def kill(self, grace_period: float | None = None) -> None:
        """Kill the task: TASK_KILLING (if capable), SIGTERM the group, SIGKILL after grace.

        Grace: ``grace_period`` if given, else the TaskInfo ``kill_policy``, else the
        default (3 s).  Returns once the signal is sent; ``await wait()`` for the end.  A
        repeated kill can only shorten the remaining grace period.
        """
        self._request_kill(self._grace(grace_period), "kill")

    async def shutdown(self, grace_period: float) -> None:
        """Executor SHUTDOWN: kill with ``grace_period`` and wait for the terminal update."""
        self._request_kill(max(0.0, grace_period), "kill")
        await self.wait()

    async def wait(self) -> dict[str, Any]:
        """Wait until the terminal status update has been emitted; return (a copy of) it."""
        await self._done.wait()
        assert self._terminal_status is not None
        return dict(self._terminal_status)

    def force_kill_from_outside(self) -> None:
        """SIGKILL the task's process group now, as an outside actor (OOM killer...) would.

        Unless a kill by us is already in progress, the task then ends TASK_FAILED
        ``"Command terminated with signal Killed"``.  No-op before spawn or after the end.
        """
        if self._process is None or self._reaped:
            logger.info("task %s: force kill ignored (not running)", self._task_id)
            return
        logger.info("task %s: fault injection: SIGKILL to process group %d",
                    self._task_id, self._process.pid)
        self._signal_tree(signal.SIGKILL)

    # ------------------------------------------------------------------ spawning

    def _environment(self) -> dict[str, str]:
        env = dict(self._base_environment)
        env.update(resolve_variables(self._command.get("environment")))
        # mesos-executor sets this from the task's (first) resource's allocation role.
        role = None
        resources = self._task_info.get("resources") or []
        if resources and isinstance(resources[0], Mapping):
            role = (resources[0].get("allocation_info") or {}).get("role")
        if role is not None:
            env["MESOS_ALLOCATION_ROLE"] = str(role)
        else:
            env.setdefault("MESOS_ALLOCATION_ROLE", "*")
        env.setdefault("PATH", DEFAULT_PATH)
        return env

    def _argv(self) -> tuple[str, list[str]]:
        value = self._command.get("value")
        if not isinstance(value, str) or not value:
            raise ValueError(f"command of task '{self._task_id}' has no 'value'")
        if _as_bool(self._command.get("shell"), True):
            return "/bin/sh", ["/bin/sh", "-c", value]
        arguments = [str(a) for a in self._command.get("arguments") or []]
        return value, (arguments or [value])

    async def _spawn(self) -> asyncio.subprocess.Process:
        executable, argv = self._argv()
        env = self._environment()
        with open(self._sandbox / "stdout", "ab") as stdout, \
                open(self._sandbox / "stderr", "ab") as stderr:
            return await asyncio.create_subprocess_exec(
                argv[0],
                *argv[1:],
                executable=executable,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                cwd=self._sandbox,
                env=env,
                start_new_session=True,
            )

    def _append_stderr(self, text: str) -> None:
        try:
            with open(self._sandbox / "stderr", "a", encoding="utf-8") as handle:
                handle.write(text)
        except OSError:
            pass

    def _start_health_check(self) -> None:
        raw = self._task_info.get("health_check")
        if not raw:
            return
        try:
            config = parse_health_check(raw)
        except ValueError as exc:
            # Mesos logs "Failed to create health checker" and runs the task unchecked.
            logger.error("task %s: invalid health check, not checking: %s", self._task_id, exc)
            return
        self._health = HealthChecker(config, self._probe(config), self._health_updated, name=self._task_id)
        self._health.start()

    def _probe(self, config: HealthCheckConfig) -> Probe:
        """The probe of the task's check (a container task runs it inside its container)."""
        return make_probe(config, env=self._environment(), cwd=self._sandbox, output_path=self._sandbox / "stderr")

    # ------------------------------------------------------------------ killing

    def _grace(self, grace_period: float | None) -> float:
        if grace_period is not None:
            return max(0.0, float(grace_period))
        if self._kill_policy_grace is not None:
            return self._kill_policy_grace
        return max(0.0, self._default_grace_period)

    def _request_kill(self, grace: float, cause: _KillCause) -> None:
        if self._terminal_status is not None or self._reaped:
            return
        if not self._started:
            # Nothing runs yet; the task ends here and a later start() does nothing.
            self._cancel_completion_timer()
            self._finish("TASK_KILLED", "Killed before delivery to the executor",
                         reason=REASON_KILLED_DURING_LAUNCH)
            return
        if not self._launched:  # start() is spawning right now: apply once spawned
            self._pending_kills.append((grace, cause))
            return
        now = self._clock.monotonic()
        self._cancel_completion_timer()
        if self._killed:
            assert self._kill_started_at is not None and self._escalation_at is not None
            deadline = self._kill_started_at + grace
            if deadline >= self._escalation_at:
                return  # a kill can only shorten the grace period
            logger.info("task %s: rescheduling SIGKILL in %.3fs",
                        self._task_id, max(0.0, deadline - now))
            self._schedule_escalation(deadline)
            return
        self._killed = True
        self._killed_by_health = cause == "health"
        self._killed_by_max_completion = cause == "max_completion"
        if self._killing_state and cause != "max_completion":
            self._emit("TASK_KILLING")
        if self._health is not None:
            self._health.stop()
        logger.info("task %s: sending SIGTERM to process group %s, SIGKILL in %.3fs",
                    self._task_id, self.pid, grace)
        self._signal_tree(signal.SIGTERM)
        self._kill_started_at = now
        self._schedule_escalation(now + grace)

    def _schedule_escalation(self, when: float) -> None:
        if self._escalation is not None:
            self._escalation.cancel()
        self._escalation_at = when
        self._escalation = self._clock.call_later(max(0.0, when - self._clock.monotonic()), self._escalate)

    def _escalate(self) -> None:
        self._escalation = None
        if self._reaped:
            return
        logger.info("task %s: did not terminate in time, sending SIGKILL", self._task_id)
        self._signal_tree(signal.SIGKILL)

    def _signal_tree(self, sig: int) -> None:
        """Signal the task's whole process group, then every other descendant of its main process.

        The tree is read *before* anything is signalled: once the main process dies its
        children are re-parented and could no longer be found (those that left the group,
        e.g. via setsid, would escape).  The group goes first and in one ``killpg`` so that
        a shell cannot see its child die and exit on its own before it gets the signal
        (which would turn "terminated with signal Killed" into "exited with status 137").
        """
        if self._process is None:
            return
        pid = self._process.pid
        # Once the main process is reaped its pid may belong to someone else: only its
        # (still existing) process group is safe to signal then.
        members = [] if self._process.returncode is not None else process_tree_pids(pid)
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        for member in members:
            if member == pid:
                continue
            try:
                if os.getpgid(member) == pid:
                    continue  # already signalled with the group
                os.kill(member, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def _max_completion_reached(self) -> None:
        self._completion_timer = None
        logger.info("task %s: exceeded its max completion time of %ss; killing",
                    self._task_id, self._max_completion)
        self._request_kill(0.0, "max_completion")

    def _cancel_completion_timer(self) -> None:
        if self._completion_timer is not None:
            self._completion_timer.cancel()
            self._completion_timer = None

    def _health_updated(self, update: HealthUpdate) -> None:
        if self._killed or self._reaped or self._terminal_status is not None:
            return
        self._emit("TASK_RUNNING", reason=REASON_HEALTH, healthy=update.healthy)
        if update.kill_task:
            logger.warning("task %s: killing after %d consecutive failed health checks",
                           self._task_id, update.consecutive_failures)
            self._request_kill(self._grace(None), "health")

    # ------------------------------------------------------------------ the end

    async def _reap(self) -> None:
        assert self._process is not None
        try:
            returncode = await self._process.wait()
        except Exception as exc:  # never leave wait() hanging without a terminal update
            logger.exception("task %s: failed to get the exit status", self._task_id)
            self._reaped = True
            self._signal_tree(signal.SIGKILL)
            if self._health is not None:
                self._health.stop()
            self._finish("TASK_FAILED", f"Failed to get exit status for Command: {exc}")
            return
        self._reaped = True
        if self._escalation is not None:
            self._escalation.cancel()
            self._escalation = None
        self._cancel_completion_timer()
        # Whatever the command left behind dies with the container.
        self._signal_tree(signal.SIGKILL)
        if self._health is not None:
            await self._health.aclose()
        message = _exit_message(returncode)
        logger.info("task %s: %s (pid: %d)", self._task_id, message, self._process.pid)
        reason: str | None = None
        if self._killed_by_max_completion:
            state, reason = "TASK_FAILED", REASON_MAX_COMPLETION
        elif self._killed:
            state = "TASK_KILLED"
        elif returncode == 0:
            state = "TASK_FINISHED"
        else:
            state = "TASK_FAILED"
        healthy = False if (self._killed and self._killed_by_health) else None
        self._finish(state, message, reason=reason, healthy=healthy)

    def _finish(self, state: str, message: str, *, reason: str | None = None,
                healthy: bool | None = None) -> None:
        self._terminal_status = self._emit(state, message=message, reason=reason, healthy=healthy)
        self._done.set()

    def _emit(self, state: str, *, message: str | None = None, reason: str | None = None,
              healthy: bool | None = None) -> dict[str, Any]:
        # Keys in the order the Mesos JSON writer renders TaskStatus fields.
        status: dict[str, Any] = {"task_id": {"value": self._task_id}, "state": state}
        if message is not None:
            status["message"] = message
        status["source"] = "SOURCE_EXECUTOR"
        if reason is not None:
            status["reason"] = reason
        status["timestamp"] = time.time()
        status["uuid"] = new_status_uuid()
        if healthy is not None:
            status["healthy"] = healthy
        self._last_status = status
        delivered = dict(status)
        delivered["task_id"] = dict(status["task_id"])
        try:
            self._on_status(delivered)
        except Exception:
            logger.exception("task %s: status callback raised for %s", self._task_id, state)
        return status
