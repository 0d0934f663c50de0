"""Starting child processes and reaping every one of them, grandchildren included.

Owns: making the executor a child subreaper (``prctl(PR_SET_CHILD_SUBREAPER)``, so the orphaned descendants of
its tasks are reparented to it rather than to init, and it can wait for them and kill them), one reaper thread
that ``waitpid(-1)``s for every child, and ``Reaper.spawn``, the only way the executor starts a process. A
spawned child is registered before the reaper can see its exit; any other exit is an orphan, counted and
dropped. Every spawn happens on one long-lived spawner thread: a ``PR_SET_PDEATHSIG`` a child asks for (the
task's guard does) follows the death of the *thread* that forked it, so that thread lives as long as the
executor.

Invariant: nothing else in the executor waits for a child (``Popen.wait``/``poll`` are never called; the
reaper writes ``returncode`` back). Fails: ``spawn`` raises the ``OSError`` of a failed exec.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import queue
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

log = logging.getLogger(__name__)

PR_SET_CHILD_SUBREAPER = 36
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
IDLE_WAIT = 0.2


def become_subreaper() -> bool:
    """Makes this process the reaper of its orphaned descendants (Linux >= 3.4). False if refused."""
    if _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        log.warning("prctl(PR_SET_CHILD_SUBREAPER) failed: %s", os.strerror(ctypes.get_errno()))
        return False
    return True


class Child:
    """A started process; ``wait`` returns its exit code (``-N`` for signal N), as ``Popen.returncode``."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self.popen = popen
        self.pid = popen.pid
        self._done = threading.Event()
        self.returncode: int | None = None

    def _exited(self, wait_status: int) -> None:
        self.returncode = os.waitstatus_to_exitcode(wait_status)
        self.popen.returncode = self.returncode
        self._done.set()

    def wait(self, timeout: float | None = None) -> int | None:
        self._done.wait(timeout)
        return self.returncode

    @property
    def exited(self) -> bool:
        return self._done.is_set()


class Reaper:
    """Starts children and reaps them all. One per executor process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._children: dict[int, Child] = {}
        self._requests: queue.Queue[tuple[Callable[[], Child], Future[Child]]] = queue.Queue()
        self.orphans_reaped = 0
        self.subreaper = become_subreaper()
        threading.Thread(target=self._reap, name="reaper", daemon=True).start()
        threading.Thread(target=self._spawner, name="spawner", daemon=True).start()

    def spawn(self, argv: list[str], **popen: Any) -> Child:
        """Starts ``argv`` (``subprocess.Popen`` keywords) and registers it with the reaper."""
        def start() -> Child:
            with self._lock:  # the reaper cannot dispatch this pid before it is registered
                process = subprocess.Popen(argv, **popen)
                child = Child(process)
                self._children[child.pid] = child
                return child
        future: Future[Child] = Future()
        self._requests.put((start, future))
        return future.result()

    def _spawner(self) -> None:
        while True:
            start, future = self._requests.get()
            try:
                future.set_result(start())
            except BaseException as exc:  # handed to the caller of spawn
                future.set_exception(exc)

    def live_children(self) -> set[int]:
        with self._lock:
            return set(self._children)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:  # no children at the moment
                threading.Event().wait(IDLE_WAIT)
                continue
            except InterruptedError:
                continue
            with self._lock:
                child = self._children.pop(pid, None)
            if child is not None:
                child._exited(status)
            else:
                self.orphans_reaped += 1
                log.debug("reaped orphan %d (status %d)", pid, status)
