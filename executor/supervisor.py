"""One task's process tree: start it in its own session, kill it by the kill policy, clean up after it.

Owns ``TaskProcess``: the task's command runs in a new session under ``executor/guard.py`` (the session leader:
it kills the task if the executor itself is SIGKILLed) with stdout/stderr piped into rotating logs in the
sandbox; ``kill(grace)`` sends SIGTERM to the whole tree
and SIGKILL when the grace period is over (a second kill can only shorten the grace, as Mesos' command
executor does); ``wait()`` returns the ``Outcome`` once the main process has exited, after every process of
the tree (session members, descendants that left the session, orphans reparented to the executor) is gone.

Outcome texts are those of Mesos' command executor: ``Command exited with status N`` and ``Command terminated
with signal <strsignal>``; state TASK_FINISHED for status 0, TASK_KILLED after a kill, TASK_FAILED otherwise.
Fails: ``start`` raises ``OSError`` when the command cannot be started.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from executor import process_tree
from executor.log_rotation import RotatingLog, pump
from executor.reaper import Child, Reaper
from mesospaas.executor_protocol import STREAMS, TaskSpec

log = logging.getLogger(__name__)
CLEANUP_ROUNDS = 50
CLEANUP_PAUSE = 0.05
PUMP_JOIN_TIMEOUT = 10.0
GUARD = Path(__file__).with_name("guard.py")


@dataclass(frozen=True, slots=True)
class Outcome:
    state: str
    message: str
    exit_code: int | None
    signal: int | None


def outcome_of(returncode: int, killed: bool) -> Outcome:
    """Mesos' command executor's verdict on a process that ended with ``returncode`` (``-N``: signal N)."""
    if returncode < 0:
        sig = -returncode
        name = signal.strsignal(sig) or f"signal {sig}"
        message = f"Command terminated with signal {name}"
        return Outcome("TASK_KILLED" if killed else "TASK_FAILED", message, None, sig)
    message = f"Command exited with status {returncode}"
    if killed:
        return Outcome("TASK_KILLED", message, returncode, None)
    return Outcome("TASK_FINISHED" if returncode == 0 else "TASK_FAILED", message, returncode, None)


def signal_tree(members: list[process_tree.ProcStat], sig: int, group: int | None = None) -> None:
    if group is not None:
        try:
            os.killpg(group, sig)
        except (ProcessLookupError, PermissionError):
            pass
    for member in members:
        try:
            os.kill(member.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


class TaskProcess:
    def __init__(self, task_id: str, spec: TaskSpec, sandbox: Path, env: dict[str, str], reaper: Reaper) -> None:
        self.task_id = task_id
        self.spec = spec
        self.sandbox = sandbox
        self.env = env
        self.reaper = reaper
        self.child: Child | None = None
        self.logs: dict[str, RotatingLog] = {}
        self._pumps: list[threading.Thread] = []
        self._lock = threading.Condition()
        self._kill_deadline: float | None = None
        self.killed = False

    @property
    def pid(self) -> int:
        assert self.child is not None
        return self.child.pid

    def start(self) -> None:
        env = dict(self.env)
        env.update(self.spec.command.environment)
        argv = self.spec.command.argv()
        guarded = [sys.executable, "-S", "-E", str(GUARD), str(os.getpid()), *argv]
        self.child = self.reaper.spawn(guarded, cwd=str(self.sandbox), env=env, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        pipes = {"stdout": self.child.popen.stdout, "stderr": self.child.popen.stderr}
        for stream in STREAMS:
            pipe = pipes[stream]
            assert pipe is not None
            target = RotatingLog(self.sandbox, stream, self.spec.log)
            self.logs[stream] = target
            fd = os.dup(pipe.fileno())
            pipe.close()
            thread = threading.Thread(target=pump, args=(fd, target), name=f"pump-{stream}", daemon=True)
            thread.start()
            self._pumps.append(thread)
        log.info("task %s started as pid %d: %s", self.task_id, self.child.pid, argv)

    # -- killing ------------------------------------------------------------------------------------------
    def kill(self, grace: float) -> bool:
        """SIGTERM now, SIGKILL after ``grace`` seconds. True for the first kill (the caller reports
        TASK_KILLING); a later kill only brings the SIGKILL forward."""
        assert self.child is not None
        deadline = time.monotonic() + max(0.0, grace)
        with self._lock:
            first = not self.killed
            self.killed = True
            if self._kill_deadline is not None and self._kill_deadline <= deadline:
                return first
            self._kill_deadline = deadline
            self._lock.notify_all()
        if first:
            log.info("killing task %s (pid %d), grace %.1fs", self.task_id, self.child.pid, grace)
            signal_tree(process_tree.task_tree(self.child.pid), signal.SIGTERM, group=self.child.pid)
            threading.Thread(target=self._enforce_grace, name="kill-timer", daemon=True).start()
        return first

    def _enforce_grace(self) -> None:
        assert self.child is not None
        with self._lock:
            while not self.child.exited:
                assert self._kill_deadline is not None
                left = self._kill_deadline - time.monotonic()
                if left <= 0:
                    break
                self._lock.wait(min(left, 0.1))
        if not self.child.exited:
            log.info("task %s outlived its grace period: SIGKILL", self.task_id)
            signal_tree(process_tree.task_tree(self.child.pid), signal.SIGKILL, group=self.child.pid)

    # -- waiting ------------------------------------------------------------------------------------------
    def wait(self) -> Outcome:
        """Blocks until the main process exits; then kills what is left of the tree and drains the logs."""
        assert self.child is not None
        returncode = self.child.wait()
        assert returncode is not None
        with self._lock:
            self._lock.notify_all()
        self.kill_leftovers()
        for thread in self._pumps:
            thread.join(PUMP_JOIN_TIMEOUT)
        outcome = outcome_of(returncode, self.killed)
        log.info("task %s: %s (%s)", self.task_id, outcome.state, outcome.message)
        return outcome

    def kill_leftovers(self) -> None:
        """SIGKILLs every process left of the task: its session and the orphans reparented to the executor
        (one task per executor: every other child of the executor belongs to this task)."""
        assert self.child is not None
        me = os.getpid()
        for _ in range(CLEANUP_ROUNDS):
            stats = process_tree.all_stats()
            mine = self.reaper.live_children()
            orphans = [s.pid for s in stats if s.ppid == me and s.pid not in mine and s.state != "Z"]
            left = [s for s in process_tree.task_tree(self.child.pid, stats) if s.state != "Z"]
            left += [s for s in process_tree.descendants(orphans, stats) if s.state != "Z"]
            left += [s for s in stats if s.pid in orphans]
            if not left:
                return
            signal_tree(left, signal.SIGKILL, group=self.child.pid)
            time.sleep(CLEANUP_PAUSE)
        log.error("task %s: processes survive SIGKILL: %s", self.task_id, sorted({s.pid for s in left}))

    def usage(self) -> process_tree.TreeUsage:
        """The task's usage: its whole tree except the guard (a subreaper: the task's orphans stay below it)."""
        assert self.child is not None
        guard = self.child.pid
        return process_tree.tree_usage(s for s in process_tree.subtree(guard) if s.pid != guard)
