"""The guard: the first process of a task's session, between the executor and the task's command.

Run as ``python -S -E guard.py PARENT_PID COMMAND...`` (a file, standard library only: no site packages are
needed, so it starts in a few milliseconds). It makes itself a child subreaper (the command's orphans stay
below it, in reach) and asks the kernel for SIGUSR2 when its parent, the executor, dies. That covers the one
case the executor cannot handle itself: being SIGKILLed (an agent destroying its container kills the
executor's process group, which the task's session is not part of). Then the guard SIGKILLs its whole tree
and exits, so the task never outlives its executor.

Otherwise it is transparent: SIGTERM/SIGINT/SIGHUP/SIGQUIT sent to the session's process group reach the
command directly (the guard ignores them), a SIGKILL of the group ends the guard too, and when the command
exits the guard exits the same way (its exit status, or the same signal), leaving any orphans to the
executor's cleanup. Exit 127 when the command cannot be executed (as a shell does).
"""

import ctypes
import ctypes.util
import os
import signal
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
EXECUTOR_DIED = signal.SIGUSR2
REAP_WITHIN = 10.0
PASSED_ON = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                raw = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        ppid = int(raw[raw.rfind(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_everything(*_: object) -> None:
    """SIGKILL every descendant (orphans are reparented to us, the subreaper), reap them all, exit."""
    deadline = time.monotonic() + REAP_WITHIN
    while time.monotonic() < deadline:
        for pid in descendants(os.getpid()):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:  # nothing left below us
            break
        time.sleep(0.01)
    os._exit(128 + EXECUTOR_DIED)


def main(argv: list[str]) -> int:
    parent, command = int(argv[1]), argv[2:]
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    signal.signal(EXECUTOR_DIED, kill_everything)
    libc.prctl(PR_SET_PDEATHSIG, EXECUTOR_DIED, 0, 0, 0)
    if os.getppid() != parent:  # the executor died before the kernel could be asked to tell
        kill_everything()
    for sig in PASSED_ON:
        signal.signal(sig, signal.SIG_IGN)
    pid = os.fork()
    if pid == 0:
        for sig in (*PASSED_ON, EXECUTOR_DIED):
            signal.signal(sig, signal.SIG_DFL)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
        try:
            os.execvp(command[0], command)
        except OSError as exc:
            os.write(2, f"{command[0]}: {exc.strerror}\n".encode())
            os._exit(127)
    while True:
        try:
            reaped, status = os.waitpid(-1, 0)
        except InterruptedError:
            continue
        except ChildProcessError:
            return 0
        if reaped == pid:
            break
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
        return 128 + number  # the signal is blocked or ignored by the kernel for us (SIGSTOP...): say it anyway
    return os.WEXITSTATUS(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
