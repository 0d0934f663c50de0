"""Scripted task lifecycles for simulated agents: no process, the same updates a command task gives.

Owns the ``TaskRunner`` used when an agent runs with ``--simulate``, so benchmarks can run thousands of agents
in one process. The script comes from the command text: ``sleep N`` finishes (TASK_FINISHED) after N seconds,
``exit N`` ends at once with that status (0 = FINISHED, else FAILED), ``false`` fails, anything else runs until
killed. A health check, if given, reports healthy once after its delay. It never raises into the agent.
"""

from __future__ import annotations

import asyncio
import base64
import re
import time
import uuid
from typing import Any, Callable

StatusCallback = Callable[[dict[str, Any]], None]
_SLEEP = re.compile(r"^\s*(?:exec\s+)?sleep\s+(\d+(?:\.\d+)?)\s*$")
_EXIT = re.compile(r"^\s*exit\s+(\d+)\s*$")


class SimulatedTask:
    """A task whose lifecycle is scripted by its command text."""

    def __init__(self, task_info: dict[str, Any], *, on_status: StatusCallback, killing_state: bool = False) -> None:
        self._info = task_info
        self._on_status = on_status
        self._killing_state = killing_state
        self._terminal = False
        self._timer: asyncio.TimerHandle | None = None
        self._health_timer: asyncio.TimerHandle | None = None
        self._done = asyncio.Event()

    @property
    def pid(self) -> int | None:
        return None

    @property
    def terminal(self) -> bool:
        return self._terminal

    def _emit(self, state: str, message: str | None = None, **extra: Any) -> None:
        status: dict[str, Any] = {"task_id": {"value": self._info["task_id"]["value"]}, "state": state}
        if message is not None:
            status["message"] = message
        status["source"] = "SOURCE_EXECUTOR"
        status.update(extra)
        status["timestamp"] = time.time()
        status["uuid"] = base64.b64encode(uuid.uuid4().bytes).decode()
        self._on_status(status)

    def _finish(self, state: str, message: str, **extra: Any) -> None:
        if self._terminal:
            return
        self._terminal = True
        for timer in (self._timer, self._health_timer):
            if timer is not None:
                timer.cancel()
        self._emit(state, message, **extra)
        self._done.set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._emit("TASK_STARTING")
        command = str((self._info.get("command") or {}).get("value") or "")
        exit_match = _EXIT.match(command)
        if exit_match or command.strip() == "false":
            code = int(exit_match.group(1)) if exit_match else 1
            self._emit("TASK_RUNNING")
            state = "TASK_FINISHED" if code == 0 else "TASK_FAILED"
            self._finish(state, f"Command exited with status {code}")
            return
        self._emit("TASK_RUNNING")
        sleep_match = _SLEEP.match(command)
        if sleep_match:
            self._timer = loop.call_later(float(sleep_match.group(1)), self._finish, "TASK_FINISHED",
                                          "Command exited with status 0")
        check = self._info.get("health_check")
        if check is not None:
            delay = float(check.get("delay_seconds", 15.0))
            self._health_timer = loop.call_later(delay, self._healthy)

    def _healthy(self) -> None:
        if not self._terminal:
            self._emit("TASK_RUNNING", reason="REASON_TASK_HEALTH_CHECK_STATUS_UPDATED", healthy=True)

    async def kill(self, grace_period: float | None = None) -> None:
        if self._terminal:
            return
        if self._killing_state:
            self._emit("TASK_KILLING")
        self._finish("TASK_KILLED", "Command terminated with signal Terminated")

    async def shutdown(self, grace_period: float) -> None:
        await self.kill(grace_period)

    async def wait(self) -> None:
        await self._done.wait()

    def force_kill_from_outside(self) -> None:
        self._finish("TASK_FAILED", "Command terminated with signal Killed")
