"""A localmesos agent: runs tasks and executors, delivers their updates reliably, serves the executor API.

Owns: one agent's identity (its own loopback address and HTTP port), resources and attributes; containers
(one per executor: the generated command executor of a command task, a custom executor process, or the
default executor of a task group) with their sandboxes under ``<work_dir>/slaves/<agent>/frameworks/<fw>/
executors/<executor>/runs/<container>``; the status update manager (one stream per task, only the head in
flight, re-sent after 10 s, 20 s, 40 s... until the scheduler acknowledges it); ``/api/v1/executor`` for
custom executors such as pymesos's MesosExecutorDriver; ``/state``, ``/monitor/statistics``, ``/flags``,
``/health``, ``/version`` and ``/files/read``; and the faults a test asks for (stop, restart, kill a task's
process from outside).

Modes: ``process`` runs real processes; ``simulate`` runs scripted lifecycles with no process and no HTTP
server, so thousands of agents fit in one process. The agent never raises into the master: a task that
cannot start ends TASK_FAILED with a message.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import os
import shutil
import signal
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

from . import wire
from .clock import LOOP_CLOCK, Clock, Timer
from .durations import stout_duration
from .environment import resolve_variables
from .master import TERMINAL_STATES, VERSION, ordered_status
from .protobuf_json import ConversionError, check
from .resources import Attribute, Resources

if TYPE_CHECKING:
    from .master import Master

log = logging.getLogger(__name__)

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
EXECUTOR_CPUS_OVERHEAD = 0.1
EXECUTOR_MEM_OVERHEAD_MB = 32.0


class TaskRunner(Protocol):
    """What runs one command task: ``CommandTask`` (real process) or ``SimulatedTask``."""

    async def start(self) -> None: ...
    async def kill(self, grace_period: float | None = None) -> None: ...
    async def shutdown(self, grace_period: float) -> None: ...
    def force_kill_from_outside(self) -> None: ...
    @property
    def pid(self) -> int | None: ...
    @property
    def terminal(self) -> bool: ...


@dataclass
class AgentFlags:
    work_dir: Path
    mode: str = "process"
    status_update_retry_interval: float = 10.0
    status_update_retry_max: float = 600.0
    executor_registration_timeout: float = 60.0
    executor_shutdown_grace_period: float = 5.0
    docker_registry: Path | None = None
    """``--docker_registry`` (a directory): image tasks run in containers (``localmesos.containers``)."""


@dataclass
class AgentTask:
    info: dict[str, Any]
    framework_id: str
    executor_id: str
    state: str = "TASK_STAGING"
    statuses: list[dict[str, Any]] = field(default_factory=list)
    latest_status: dict[str, Any] | None = None
    runner: TaskRunner | None = None


@dataclass
class Container:
    framework_id: str
    executor_id: str
    container_id: str
    sandbox: Path
    kind: str  # "command" | "custom" | "default"
    executor_info: dict[str, Any]
    framework_info: dict[str, Any]
    tasks: dict[str, AgentTask] = field(default_factory=dict)
    queued: list[dict[str, Any]] = field(default_factory=list)  # events for a custom executor not yet subscribed
    process: asyncio.subprocess.Process | None = None
    stream: wire.RecordIOStream | None = None
    subscribed: bool = False
    terminating: bool = False
    registration_timer: asyncio.TimerHandle | None = None
    watcher: asyncio.Task[None] | None = None
    resources: Resources = field(default_factory=Resources)
    silenced: bool = False  # destroyed without reporting (framework removed, agent died): no more updates


@dataclass
class PendingUpdate:
    status: dict[str, Any]
    latest_state: str


@dataclass
class UpdateStream:
    """One task's reliable update stream: only the head is in flight."""

    framework_id: str
    task_id: str
    pending: deque[PendingUpdate] = field(default_factory=deque)
    timer: Timer | None = None
    attempts: int = 0


class Agent:
    """One localmesos agent."""

    def __init__(self, master: "Master", *, ip: str, port: int, resources: Resources,
                 attributes: tuple[Attribute, ...], flags: AgentFlags, hostname: str | None = None,
                 clock: Clock = LOOP_CLOCK) -> None:
        self.master = master
        self.clock = clock
        """Runs the status update retransmission deadlines (see ``clock.py``)."""
        self.id = master.next_agent_id()
        self.ip = ip
        self.hostname = hostname or ip
        self.port = port
        self.total = resources
        self.attributes = attributes
        self.flags = flags
        self.start_time = time.time()
        self.running = False
        self.containers: dict[tuple[str, str], Container] = {}
        self.completed_containers: deque[Container] = deque(maxlen=100)
        self.frameworks: dict[str, dict[str, Any]] = {}
        self.streams: dict[tuple[str, str], UpdateStream] = {}
        self._runner: web.AppRunner | None = None
        self._background: set[asyncio.Task[Any]] = set()

    # -- lifecycle ------------------------------------------------------------------------------------
    @property
    def simulated(self) -> bool:
        return self.flags.mode == "simulate"

    async def start(self) -> None:
        """Serves HTTP (process mode) and registers with the master."""
        if not self.simulated and self._runner is None:
            self._runner = web.AppRunner(build_agent_app(self), access_log=None, handler_cancellation=True,
                                         keepalive_timeout=86400.0)
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.ip, self.port, reuse_address=True)
            await site.start()
            self.port = int(self._runner.addresses[0][1])
        self.running = True
        self.master.register_agent(self)
        for stream in list(self.streams.values()):
            self._forward_head(stream)

    def reregister(self, master: "Master") -> None:
        """The master restarted or failed over (``master_restart``): from now on this agent talks to ``master``.
        A running agent re-registers at once and sends the head of every pending update stream again; its tasks
        never stopped. A stopped agent registers with ``master`` when it is started again."""
        self.master = master
        if self.running:
            master.register_agent(self)
            for stream in list(self.streams.values()):
                stream.attempts = 0
                self._forward_head(stream)

    async def stop(self, *, kill_everything: bool = False) -> None:
        """Stops the agent process (fault or shutdown). Checkpointed frameworks' tasks keep running, unless
        ``kill_everything`` (the cluster is going away), which also ends those of an agent already stopped."""
        if not self.running and self._runner is None:
            if kill_everything:
                for container in list(self.containers.values()):
                    await self._destroy_container(container, report=False)
            return
        self.running = False
        for stream in self.streams.values():
            if stream.timer:
                stream.timer.cancel()
                stream.timer = None
        self.master.agent_disconnected(self.id)
        for key, container in list(self.containers.items()):
            checkpoint = bool(container.framework_info.get("checkpoint", False))
            if kill_everything or not checkpoint:
                await self._destroy_container(container, report=False)
            elif container.stream is not None:
                container.stream.close()
                container.stream = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def shutdown(self) -> None:
        """Ends the agent for good: every process it started is stopped."""
        await self.stop(kill_everything=True)
        for stream in self.streams.values():
            if stream.timer:
                stream.timer.cancel()
        self.streams.clear()
        for task in list(self._background):
            task.cancel()

    def agent_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"hostname": self.hostname, "port": self.port,
                                "resources": self.total.to_json(role=None, ranges_first=False)}
        if self.attributes:
            info["attributes"] = [a.to_json() for a in self.attributes]
        info["id"] = {"value": self.id}
        return info

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- launching ------------------------------------------------------------------------------------
    def _sandbox(self, framework_id: str, executor_id: str, container_id: str) -> Path:
        base = (self.flags.work_dir / "slaves" / self.id / "frameworks" / framework_id / "executors" /
                executor_id / "runs")
        sandbox = base / container_id
        if not self.simulated:
            sandbox.mkdir(parents=True, exist_ok=True)
            latest = base / "latest"
            try:
                if latest.is_symlink() or latest.exists():
                    latest.unlink()
                latest.symlink_to(container_id)
            except OSError:
                pass
        return sandbox

    def executor_environment(self, container: Container) -> dict[str, str]:
        """The environment a real agent gives an executor (transcript 70), nothing of the agent's own."""
        checkpoint = bool(container.framework_info.get("checkpoint", False))
        grace = container.executor_info.get("shutdown_grace_period", {}).get("nanoseconds")
        grace_s = float(grace) / 1e9 if grace is not None else self.flags.executor_shutdown_grace_period
        env = {"PATH": DEFAULT_PATH, "LIBPROCESS_IP": self.ip, "LIBPROCESS_PORT": "0",
               "MESOS_AGENT_ENDPOINT": f"{self.ip}:{self.port}", "MESOS_CHECKPOINT": "1" if checkpoint else "0",
               "MESOS_DIRECTORY": str(container.sandbox), "MESOS_SANDBOX": str(container.sandbox),
               "MESOS_EXECUTOR_ID": container.executor_id, "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD":
               stout_duration(grace_s), "MESOS_FRAMEWORK_ID": container.framework_id,
               "MESOS_HTTP_COMMAND_EXECUTOR": "0", "MESOS_SLAVE_ID": self.id,
               "MESOS_SLAVE_PID": f"slave(1)@{self.ip}:{self.port}"}
        if checkpoint:
            env["MESOS_RECOVERY_TIMEOUT"] = "15mins"
            env["MESOS_SUBSCRIPTION_BACKOFF_MAX"] = "2secs"
        env.update(resolve_variables((container.executor_info.get("command") or {}).get("environment")))
        return env

    def run_task(self, framework_info: dict[str, Any], task_info: dict[str, Any],
                 executor_info: dict[str, Any] | None) -> None:
        framework_id = framework_info["id"]["value"]
        self.frameworks[framework_id] = framework_info
        task_id = task_info["task_id"]["value"]
        if executor_info is None:
            command = (task_info.get("command") or {}).get("value") or ""
            executor_info = {"executor_id": {"value": task_id}, "framework_id": {"value": framework_id},
                             "name": f"Command Executor (Task: {task_id}) (Command: sh -c '{_short(command)}')",
                             "source": task_id, "command": {"value": "mesos-executor", "shell": True}}
            container = self._new_container(framework_info, executor_info, "command")
            container.resources = Resources.from_json(task_info.get("resources") or [])
            task = AgentTask(info=task_info, framework_id=framework_id, executor_id=task_id)
            container.tasks[task_id] = task
            self._spawn(self._start_command_task(container, task))
            return
        executor_id = executor_info["executor_id"]["value"]
        container = self.containers.get((framework_id, executor_id))
        if container is None:
            container = self._new_container(framework_info, executor_info, "custom")
            container.resources = Resources.from_json(executor_info.get("resources") or [])
            self._spawn(self._start_custom_executor(container))
        task = AgentTask(info=task_info, framework_id=framework_id, executor_id=executor_id)
        container.tasks[task_id] = task
        container.resources = container.resources + Resources.from_json(task_info.get("resources") or [])
        self._deliver(container, {"type": "LAUNCH", "launch": {"task": _with_allocation(task_info)}})

    def run_task_group(self, framework_info: dict[str, Any], executor_info: dict[str, Any],
                       tasks: list[dict[str, Any]]) -> None:
        framework_id = framework_info["id"]["value"]
        self.frameworks[framework_id] = framework_info
        executor_id = executor_info["executor_id"]["value"]
        kind = "default" if executor_info.get("type", "DEFAULT") == "DEFAULT" else "custom"
        container = self.containers.get((framework_id, executor_id))
        if container is None:
            container = self._new_container(framework_info, executor_info, kind)
            container.resources = Resources.from_json(executor_info.get("resources") or [])
            if kind == "custom":
                self._spawn(self._start_custom_executor(container))
        for task_info in tasks:
            task = AgentTask(info=task_info, framework_id=framework_id, executor_id=executor_id)
            container.tasks[task_info["task_id"]["value"]] = task
            container.resources = container.resources + Resources.from_json(task_info.get("resources") or [])
        if kind == "default":
            for task_info in tasks:
                task = container.tasks[task_info["task_id"]["value"]]
                self._spawn(self._start_command_task(container, task, task_sandbox=True))
        else:
            self._deliver(container, {"type": "LAUNCH_GROUP", "launch_group": {
                "task_group": {"tasks": [_with_allocation(t) for t in tasks]}}})

    def _new_container(self, framework_info: dict[str, Any], executor_info: dict[str, Any],
                       kind: str) -> Container:
        framework_id = framework_info["id"]["value"]
        executor_id = executor_info["executor_id"]["value"]
        container_id = str(uuid.uuid4())
        container = Container(framework_id=framework_id, executor_id=executor_id, container_id=container_id,
                              sandbox=self._sandbox(framework_id, executor_id, container_id), kind=kind,
                              executor_info=executor_info, framework_info=framework_info)
        self.containers[(framework_id, executor_id)] = container
        return container

    async def _start_command_task(self, container: Container, task: AgentTask, task_sandbox: bool = False) -> None:
        task_id = task.info["task_id"]["value"]
        sandbox = container.sandbox
        env = self.executor_environment(container)
        if task_sandbox:
            sandbox = container.sandbox / "tasks" / task_id
            if not self.simulated:
                sandbox.mkdir(parents=True, exist_ok=True)
            env["MESOS_SANDBOX"] = str(sandbox)
        killing = "TASK_KILLING_STATE" in {c.get("type") for c in container.framework_info.get("capabilities") or []}

        def on_status(status: dict[str, Any]) -> None:
            if container.silenced:
                return
            self._executor_update(container, task, status, add_executor_id=True)

        runner: TaskRunner
        # -- containers (localmesos.containers): what a real agent refuses, or the image task's runner
        if task.info.get("container") and not self.simulated:
            from .containers.task import start_container_task
            container_runner = await start_container_task(self, container, task, sandbox, env, on_status, killing)
            if container_runner is None:
                return
            runner = container_runner
        elif self.simulated:
            from .simulated_task import SimulatedTask
            runner = SimulatedTask(task.info, on_status=on_status, killing_state=killing)
        else:
            from .command_task import CommandTask
            runner = CommandTask(task.info, sandbox=sandbox, environment=env, on_status=on_status,
                                 killing_state=killing)
        task.runner = runner
        try:
            await runner.start()
        except Exception:  # a runner bug must not take the agent down; the task ends failed
            log.exception("task %s could not start", task_id)
            on_status({"task_id": {"value": task_id}, "state": "TASK_FAILED", "source": "SOURCE_EXECUTOR",
                       "message": "Failed to launch the task", "timestamp": time.time(),
                       "uuid": _new_uuid()})

    async def _start_custom_executor(self, container: Container) -> None:
        if self.simulated:
            self._fail_container(container, "TASK_FAILED", "REASON_CONTAINER_LAUNCH_FAILED",
                                 "Custom executors need process mode")
            return
        command = container.executor_info.get("command") or {}
        env = self.executor_environment(container)
        stdout = open(container.sandbox / "stdout", "ab")
        stderr = open(container.sandbox / "stderr", "ab")
        try:
            if command.get("shell", True):
                argv = ["/bin/sh", "-c", str(command.get("value", ""))]
            else:
                argv = [str(command.get("value"))] + [str(a) for a in command.get("arguments") or []][1:]
            container.process = await asyncio.create_subprocess_exec(
                *argv, cwd=str(container.sandbox), env=env, stdout=stdout, stderr=stderr,
                stdin=asyncio.subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            log.warning("executor %s failed to launch: %s", container.executor_id, exc)
            self._fail_container(container, "TASK_FAILED", "REASON_CONTAINER_LAUNCH_FAILED",
                                 f"Failed to launch container: {exc}")
            return
        finally:
            stdout.close()
            stderr.close()
        container.registration_timer = asyncio.get_running_loop().call_later(
            self.flags.executor_registration_timeout, self._registration_timed_out, container)
        container.watcher = asyncio.get_running_loop().create_task(self._watch_executor(container))

    def _registration_timed_out(self, container: Container) -> None:
        if not container.subscribed and not container.terminating:
            log.warning("executor %s did not subscribe in time", container.executor_id)
            self._spawn(self._destroy_container(container, reason="REASON_EXECUTOR_REGISTRATION_TIMEOUT",
                                                message="Executor did not register within "
                                                        f"{self.flags.executor_registration_timeout:g}secs"))

    async def _watch_executor(self, container: Container) -> None:
        assert container.process is not None
        code = await container.process.wait()
        wait_status = (-code) if code < 0 else (code << 8)
        if container.registration_timer:
            container.registration_timer.cancel()
        if container.stream is not None:
            container.stream.close()
            container.stream = None
        self._fail_live_tasks(container, "REASON_EXECUTOR_TERMINATED", "Executor terminated")
        self.containers.pop((container.framework_id, container.executor_id), None)
        self.completed_containers.append(container)
        if self.running:
            self.master.executor_exited(self.id, container.framework_id, container.executor_id, wait_status,
                                        custom=True)

    def _fail_container(self, container: Container, state: str, reason: str, message: str) -> None:
        for task in container.tasks.values():
            if task.state not in TERMINAL_STATES:
                self._agent_update(container, task, state, reason, message)
        self.containers.pop((container.framework_id, container.executor_id), None)
        self.completed_containers.append(container)

    def _fail_live_tasks(self, container: Container, reason: str, message: str) -> None:
        for task in container.tasks.values():
            if task.state not in TERMINAL_STATES:
                self._agent_update(container, task, "TASK_FAILED", reason, message)

    def _deliver(self, container: Container, event: dict[str, Any]) -> None:
        if container.stream is not None and container.subscribed:
            container.stream.send(event)
        else:
            container.queued.append(event)

    # -- status updates -------------------------------------------------------------------------------
    def _container_status(self, container: Container, pid: int | None) -> dict[str, Any]:
        status: dict[str, Any] = {"container_id": {"value": container.container_id},
                                  "network_infos": [{"ip_addresses": [{"protocol": "IPv4",
                                                                       "ip_address": self.ip}]}]}
        status["executor_pid"] = pid if pid is not None else os.getpid()
        return status

    def _executor_update(self, container: Container, task: AgentTask, status: dict[str, Any],
                         add_executor_id: bool) -> None:
        """An update that came from an executor (built-in or custom)."""
        status = dict(status)
        status["agent_id"] = {"value": self.id}
        if add_executor_id:
            status["executor_id"] = {"value": container.executor_id}
        pid = container.process.pid if container.process is not None else (
            task.runner.pid if task.runner is not None else None)
        status["container_status"] = self._container_status(container, pid)
        self._record(container, task, status)

    def _agent_update(self, container: Container, task: AgentTask, state: str, reason: str, message: str) -> None:
        status = {"task_id": {"value": task.info["task_id"]["value"]}, "state": state, "message": message,
                  "source": "SOURCE_AGENT", "reason": reason, "agent_id": {"value": self.id},
                  "timestamp": time.time(), "uuid": _new_uuid()}
        if container.kind == "command":
            status["executor_id"] = {"value": container.executor_id}
        self._record(container, task, status)

    def _record(self, container: Container, task: AgentTask, status: dict[str, Any]) -> None:
        status = ordered_status(status)
        task.state = status["state"]
        task.latest_status = status
        entry: dict[str, Any] = {"state": status["state"], "timestamp": status.get("timestamp")}
        if "container_status" in status:
            entry["container_status"] = {k: v for k, v in status["container_status"].items()
                                         if k != "executor_pid"}
        if "healthy" in status:
            entry["healthy"] = status["healthy"]
        if task.statuses and task.statuses[-1]["state"] == entry["state"]:
            task.statuses.pop()  # like the real agent: the latest of consecutive equal states (transcript 18)
        task.statuses.append(entry)
        if container.kind == "command" and status["state"] in TERMINAL_STATES:
            self.containers.pop((container.framework_id, container.executor_id), None)
            self.completed_containers.append(container)
        key = (container.framework_id, status["task_id"]["value"])
        stream = self.streams.get(key)
        if stream is None:
            stream = self.streams[key] = UpdateStream(container.framework_id, key[1])
        stream.pending.append(PendingUpdate(status, status["state"]))
        if len(stream.pending) == 1:
            self._forward_head(stream)

    def _latest_state(self, framework_id: str, task_id: str) -> str:
        for container in self.containers.values():
            if container.framework_id == framework_id and task_id in container.tasks:
                return container.tasks[task_id].state
        return "TASK_LOST"

    def _forward_head(self, stream: UpdateStream) -> None:
        if stream.timer:
            stream.timer.cancel()
            stream.timer = None
        if not stream.pending or not self.running:
            return
        head = stream.pending[0]
        latest = head.latest_state
        for pending in stream.pending:
            latest = pending.latest_state
        self.master.forward_update(self.id, stream.framework_id, head.status, latest)
        delay = min(self.flags.status_update_retry_interval * (2 ** stream.attempts),
                    self.flags.status_update_retry_max)
        stream.attempts += 1
        stream.timer = self.clock.call_later(delay, self._forward_head, stream)

    def acknowledge(self, framework_id: str, task_id: str, uuid_b64: str) -> bool:
        """The scheduler acknowledged an update: next update of that task goes out. True if it matched."""
        stream = self.streams.get((framework_id, task_id))
        if stream is None or not stream.pending:
            return False
        if stream.pending[0].status.get("uuid") != uuid_b64:
            log.info("ignoring acknowledgement of %s with a uuid that is not the pending one", task_id)
            return False
        stream.pending.popleft()
        stream.attempts = 0
        if stream.timer:
            stream.timer.cancel()
            stream.timer = None
        if stream.pending:
            self._forward_head(stream)
        else:
            del self.streams[(framework_id, task_id)]
        return True

    def resend_pending(self, framework_id: str) -> None:
        """A framework failed over: its unacknowledged updates go out again at once."""
        for stream in list(self.streams.values()):
            if stream.framework_id == framework_id:
                stream.attempts = 0
                self._forward_head(stream)

    def task_latest_status(self, framework_id: str, task_id: str) -> dict[str, Any] | None:
        for container in self.containers.values():
            task = container.tasks.get(task_id)
            if container.framework_id == framework_id and task is not None and task.state not in TERMINAL_STATES:
                return task.latest_status or {"state": task.state}
        return None

    # -- kills and shutdowns --------------------------------------------------------------------------
    def _find(self, framework_id: str, task_id: str) -> tuple[Container, AgentTask] | None:
        for container in self.containers.values():
            if container.framework_id == framework_id and task_id in container.tasks:
                return container, container.tasks[task_id]
        return None

    def kill_task(self, framework_id: str, task_id: str, kill_policy: dict[str, Any] | None) -> None:
        found = self._find(framework_id, task_id)
        if found is None:
            return
        container, task = found
        grace_ns = ((kill_policy or {}).get("grace_period") or {}).get("nanoseconds")
        grace = float(grace_ns) / 1e9 if grace_ns is not None else None
        if container.kind in ("command", "default"):
            if task.runner is not None and not task.runner.terminal:
                self._spawn(task.runner.kill(grace))
            elif task.runner is None and task.state not in TERMINAL_STATES:
                self._agent_update(container, task, "TASK_KILLED", "REASON_TASK_KILLED_DURING_LAUNCH",
                                   "Task killed before it was launched")
            return
        if not container.subscribed:
            container.queued = [e for e in container.queued
                                if not (e.get("type") == "LAUNCH" and
                                        e["launch"]["task"]["task_id"]["value"] == task_id)]
            self._agent_update(container, task, "TASK_KILLED", "REASON_TASK_KILLED_DURING_LAUNCH",
                               "Task killed before it was launched")
            return
        event: dict[str, Any] = {"type": "KILL", "kill": {"task_id": {"value": task_id}}}
        if kill_policy:
            event["kill"]["kill_policy"] = kill_policy
        self._deliver(container, event)

    def shutdown_executor(self, framework_id: str, executor_id: str) -> None:
        container = self.containers.get((framework_id, executor_id))
        if container is not None:
            self._spawn(self._destroy_container(container, reason="REASON_EXECUTOR_TERMINATED",
                                                message="Executor terminated"))

    def shutdown_framework(self, framework_id: str) -> None:
        """The framework was removed: its executors go, its updates are no longer delivered."""
        for key in [k for k in self.streams if k[0] == framework_id]:
            stream = self.streams.pop(key)
            if stream.timer:
                stream.timer.cancel()
        for container in [c for c in self.containers.values() if c.framework_id == framework_id]:
            self._spawn(self._destroy_container(container, report=False))

    def framework_message(self, framework_id: str, executor_id: str, data: str) -> None:
        container = self.containers.get((framework_id, executor_id))
        if container is not None and container.kind == "custom":
            self._deliver(container, {"type": "MESSAGE", "message": {"data": data}})

    async def _destroy_container(self, container: Container, *, report: bool = True,
                                 reason: str = "REASON_EXECUTOR_TERMINATED",
                                 message: str = "Executor terminated") -> None:
        container.terminating = True
        grace = self.flags.executor_shutdown_grace_period
        if container.kind in ("command", "default"):
            runners = [t.runner for t in container.tasks.values() if t.runner is not None and not t.runner.terminal]
            if not report:
                # Like a real agent: the tasks keep their last state in /state's completed executors (18).
                container.silenced = True
            await asyncio.gather(*(r.shutdown(max(0.0, grace - 2.0)) for r in runners), return_exceptions=True)
            self.containers.pop((container.framework_id, container.executor_id), None)
            if not report and all(c is not container for c in self.completed_containers):
                self.completed_containers.append(container)
            return
        if container.stream is not None and report:
            container.stream.send({"type": "SHUTDOWN"})
        proc = container.process
        if proc is not None and proc.returncode is None:
            if report:
                try:
                    await asyncio.wait_for(asyncio.shield(proc.wait()), grace)
                except asyncio.TimeoutError:
                    pass
            _kill_group(proc.pid, signal.SIGKILL)
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except asyncio.TimeoutError:
                log.error("executor %s (pid %s) did not die", container.executor_id, proc.pid)
        if container.watcher is not None and not report:
            container.watcher.cancel()
        if report:
            self._fail_live_tasks(container, reason, message)
        self.containers.pop((container.framework_id, container.executor_id), None)

    def kill_task_process(self, task_id: str) -> bool:
        """Fault injection: SIGKILL a task's processes from outside, as an OOM killer or an operator would."""
        for container in self.containers.values():
            task = container.tasks.get(task_id)
            if task is None:
                continue
            if task.runner is not None:
                task.runner.force_kill_from_outside()
                return True
            if container.process is not None and container.process.returncode is None:
                _kill_group(container.process.pid, signal.SIGKILL)
                return True
        return False

    # -- executor API ---------------------------------------------------------------------------------
    async def executor_call(self, request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            return wire.method_not_allowed(request)
        try:
            body = await wire.read_call(request, "executor::Call")
            try:
                check("ExecutorCall", body)
            except ConversionError as exc:
                raise wire.BadRequest(400, f"Failed to convert JSON into Call protobuf: {exc}") from exc
            call_type = body.get("type")
            if call_type not in ("SUBSCRIBE", "UPDATE", "MESSAGE", "HEARTBEAT"):
                raise wire.BadRequest(400, "Failed to validate executor::Call: Expecting 'type' to be present")
            framework_id = body["framework_id"]["value"]
            executor_id = body["executor_id"]["value"]
            if framework_id not in self.frameworks:
                raise wire.BadRequest(400, "Framework cannot be found")
            container = self.containers.get((framework_id, executor_id))
            if container is None or container.kind == "command":
                raise wire.BadRequest(400, "Executor cannot be found")
            if call_type == "SUBSCRIBE":
                return await self._executor_subscribe(request, container, body.get("subscribe") or {})
            if call_type == "HEARTBEAT":
                return wire.accepted()
            if not container.subscribed:
                raise wire.BadRequest(403, "Executor is not subscribed")
            if call_type == "UPDATE":
                return self._executor_update_call(container, body.get("update"))
            message = body.get("message")
            if message is None:
                raise wire.BadRequest(400, "Failed to validate executor::Call: Expecting 'message' to be present")
            self.master.executor_message(self.id, framework_id, executor_id, message["data"])
            return wire.accepted()
        except wire.BadRequest as exc:
            return exc.response()

    async def _executor_subscribe(self, request: web.Request, container: Container,
                                  subscribe: dict[str, Any]) -> web.StreamResponse:
        stream = wire.RecordIOStream("", None)
        if container.terminating:
            stream.send({"type": "SHUTDOWN"})
            stream.close()
            return await stream.serve(request, lambda: None)
        if container.stream is not None:
            container.stream.close()
        if container.registration_timer:
            container.registration_timer.cancel()
            container.registration_timer = None
        container.stream = stream
        first_time = not container.subscribed
        container.subscribed = True
        info = dict(container.executor_info)
        info["resources"] = Resources.from_json(info.get("resources") or []).to_json(
            role=None, allocation_role="*", ranges_first=False)
        if info.get("command"):
            info["command"] = _command_defaults(info["command"])
        stream.send({"type": "SUBSCRIBED", "subscribed": {
            "executor_info": info, "framework_info": container.framework_info, "agent_info": self.agent_info(),
            "container_id": {"value": container.container_id}}})
        for pending in subscribe.get("unacknowledged_updates") or []:
            status = pending.get("status") if isinstance(pending, dict) else None
            task = container.tasks.get(((status or {}).get("task_id") or {}).get("value", ""))
            if status and task is not None and status.get("uuid") not in {
                    p.status.get("uuid") for s in self.streams.values() for p in s.pending}:
                self._executor_update(container, task, status, add_executor_id=False)
        if first_time:
            for event in container.queued:
                stream.send(event)
            container.queued.clear()
        else:
            acked = {t["task_id"]["value"] for t in subscribe.get("unacknowledged_tasks") or []}
            for task_id, task in container.tasks.items():
                if task.state == "TASK_STAGING" and task_id not in acked:
                    self._agent_update(container, task, "TASK_LOST", "REASON_AGENT_RESTARTED",
                                       "Task launched during agent restart")

        def lost() -> None:
            if container.stream is stream:
                container.stream = None

        return await stream.serve(request, lost)

    def _executor_update_call(self, container: Container, update: Any) -> web.Response:
        status = (update or {}).get("status")
        if not isinstance(status, dict):
            raise wire.BadRequest(400, "Failed to validate executor::Call: Expecting 'update' to be present")
        raw_uuid = status.get("uuid")
        try:
            if not isinstance(raw_uuid, str) or len(base64.b64decode(raw_uuid, validate=True)) != 16:
                raise ValueError
        except (binascii.Error, ValueError):
            raise wire.BadRequest(400, "Failed to validate executor::Call: 'uuid' is not a valid UUID") from None
        if status.get("source", "SOURCE_EXECUTOR") != "SOURCE_EXECUTOR":
            raise wire.BadRequest(400, "Failed to validate executor::Call: Received Call from executor "
                                       "with invalid source")
        if status.get("state") == "TASK_STAGING":
            raise wire.BadRequest(400, "Failed to validate executor::Call: Received TASK_STAGING from executor")
        given = (status.get("executor_id") or {}).get("value")
        if given is not None and given != container.executor_id:
            raise wire.BadRequest(400, "Failed to validate executor::Call: ExecutorID in Call does not match "
                                       "ExecutorID in TaskStatus")
        task_id = status["task_id"]["value"]
        task = container.tasks.get(task_id)
        if task is not None and task.state not in TERMINAL_STATES:
            self._executor_update(container, task, status, add_executor_id=False)
        if container.stream is not None:
            container.stream.send({"type": "ACKNOWLEDGED", "acknowledged": {"task_id": {"value": task_id},
                                                                            "uuid": raw_uuid}})
        return wire.accepted()


# -- agent HTTP -------------------------------------------------------------------------------------------
def build_agent_app(agent: Agent) -> web.Application:
    from . import agent_http
    return agent_http.build(agent)


def _with_allocation(task_info: dict[str, Any]) -> dict[str, Any]:
    out = dict(task_info)
    out["resources"] = Resources.from_json(task_info.get("resources") or []).to_json(
        role=None, allocation_role="*", ranges_first=False)
    if "executor" in out and isinstance(out["executor"], dict):
        ex = dict(out["executor"])
        ex["resources"] = Resources.from_json(ex.get("resources") or []).to_json(
            role=None, allocation_role="*", ranges_first=False)
        out["executor"] = ex
    return out


def _command_defaults(command: dict[str, Any]) -> dict[str, Any]:
    out = dict(command)
    out.setdefault("shell", True)
    env = out.get("environment")
    if isinstance(env, dict):
        out["environment"] = {"variables": [{**v, "type": v.get("type", "VALUE")}
                                            for v in env.get("variables") or [] if isinstance(v, dict)]}
    return out


def _short(command: str) -> str:
    return command if len(command) <= 12 else command[:12] + "..."


def _new_uuid() -> str:
    return base64.b64encode(uuid.uuid4().bytes).decode()


def _kill_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def remove_work_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


__all__ = ["Agent", "AgentFlags", "VERSION"]
