"""Supervision scenarios, each run in a process of its own: ``python -m tests.executor.scenarios NAME SANDBOX``.

The executor's reaper waits for *every* child of its process (it is a subreaper: orphans come to it), so it
must never run inside the test runner, whose other children (localmesos, subprocesses of other tests) it would
reap. Each scenario drives the real supervisor on real processes and prints one JSON object of what it saw;
the tests in ``test_supervision.py`` assert on it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from executor import process_tree
from executor.health import HealthLoop, check_spec
from executor.reaper import Reaper
from executor.supervisor import TaskProcess
from mesospaas.executor_protocol import TaskCommand, TaskSpec

STUBBORN = (
    "echo $$ > pids; ( trap '' TERM; exec sleep 600 ) & echo $! >> pids; "
    f"{sys.executable} -c \"import os,time; os.setsid(); open('pids','a').write(str(os.getpid())+chr(10)); "
    "time.sleep(600)\" & "
    "trap 'echo got TERM' TERM; while true; do sleep 0.05; done"
)
DAEMONIZE = (
    f"{sys.executable} -c \"import os,time\nif os.fork(): os._exit(0)\nos.setsid()\n"
    "open('pids','a').write(str(os.getpid())+chr(10)); time.sleep(600)\"; "
    "sleep 600 & echo $! >> pids; "
    "while [ $(wc -l < pids) -lt 2 ]; do sleep 0.01; done; exit 0"
)


def alive(pid: int) -> bool:
    stat = process_tree.read_stat(pid)
    return stat is not None and stat.state != "Z"


def wait_until(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("scenario condition not met")


def pids_of(sandbox: Path, count: int) -> list[int]:
    def read() -> list[int] | None:
        path = sandbox / "pids"
        pids = [int(p) for p in path.read_text().split()] if path.exists() else []
        return pids if len(pids) >= count else None
    result: list[int] = wait_until(read)
    return result


def task(reaper: Reaper, sandbox: Path, command: str, **kw: Any) -> TaskProcess:
    process = TaskProcess("t1", TaskSpec(TaskCommand(command, **kw)), sandbox, dict(os.environ), reaper)
    process.start()
    return process


def exit_status(reaper: Reaper, sandbox: Path) -> dict[str, Any]:
    process = task(reaper, sandbox, f"echo out $GREETING; echo err >&2; {sys.executable} -c "
                                    "'import os; open(\"sid\", \"w\").write(str(os.getsid(0)))'; exit 7",
                   environment=(("GREETING", "hi"),))
    outcome = process.wait()
    return {"state": outcome.state, "message": outcome.message, "task_session": int((sandbox / "sid").read_text()),
            "executor_session": os.getsid(0), "guard": process.pid}


def cannot_start(reaper: Reaper, sandbox: Path) -> dict[str, Any]:
    process = task(reaper, sandbox, "/no/such/binary", shell=False)
    return {"message": process.wait().message}


def kill_tree(reaper: Reaper, sandbox: Path) -> dict[str, Any]:
    process = task(reaper, sandbox, STUBBORN)
    pids = pids_of(sandbox, 3)
    before = [alive(p) for p in pids]
    first = process.kill(60.0)
    wait_until(lambda: "got TERM" in (sandbox / "stdout").read_text())  # SIGTERM first; the task goes on
    second = process.kill(0.1)  # a later kill can bring the SIGKILL forward
    outcome = process.wait()
    return {"before": before, "first": first, "second": second, "state": outcome.state, "message": outcome.message,
            "alive_after": [p for p in pids if alive(p)]}


def sigterm(reaper: Reaper, sandbox: Path) -> dict[str, Any]:
    process = task(reaper, sandbox, "exec sleep 600")
    process.kill(30.0)
    return {"message": process.wait().message}


def leftovers(reaper: Reaper, sandbox: Path) -> dict[str, Any]:
    process = task(reaper, sandbox, DAEMONIZE)
    outcome = process.wait()
    pids = [int(p) for p in (sandbox / "pids").read_text().split()]
    return {"state": outcome.state, "pids": pids, "alive_after": [p for p in pids if alive(p)]}


def usage(reaper: Reaper, sandbox: Path) -> dict[str, Any]:
    process = task(reaper, sandbox, f"{sys.executable} -c \"import time\nx = bytearray(50 << 20)\n"
                                    "open('ready','w').close(); time.sleep(600)\"")
    wait_until(lambda: (sandbox / "ready").exists())
    measured = process.usage()
    process.kill(0.0)
    process.wait()
    return {"rss": measured.rss_bytes, "processes": measured.processes, "threads": measured.threads}


def command_check(reaper: Reaper, sandbox: Path) -> dict[str, Any]:
    """A COMMAND health check judged by the core's rules: success, failures, the kill after the last one."""
    reports: list[tuple[bool, int, str | None]] = []
    kills: list[str] = []
    spec = check_spec({"type": "COMMAND", "command": {"value": "test -f healthy"}, "delay_seconds": 0,
                       "interval_seconds": 0.01, "timeout_seconds": 5, "consecutive_failures": 3,
                       "grace_period_seconds": 0})
    clock = iter(float(t) for t in range(100, 10_000))
    loop = HealthLoop("t1", spec, 0.0, report=lambda r, h: reports.append((h, r.consecutive_failures,
                                                                           r.last_failure_cause)),
                      kill=kills.append, reaper=reaper, cwd=sandbox, env=dict(os.environ), clock=lambda: next(clock))
    (sandbox / "healthy").touch()
    for _ in range(3):
        loop.judge(loop.probe(), next(clock))
    (sandbox / "healthy").unlink()
    for _ in range(10):
        if kills:  # the loop stops itself after asking for the kill
            break
        loop.judge(loop.probe(), next(clock))
    slow = check_spec({"type": "COMMAND", "command": {"value": "sleep 600"}, "timeout_seconds": 0.2})
    timed_out = HealthLoop("t2", slow, 0.0, report=lambda r, h: None, kill=kills.append, reaper=reaper,
                           cwd=sandbox, env=dict(os.environ)).probe()
    return {"reports": reports, "kills": kills, "timed_out": repr(timed_out)}


SCENARIOS = {f.__name__: f for f in (exit_status, cannot_start, kill_tree, sigterm, leftovers, usage, command_check)}


if __name__ == "__main__":
    name, sandbox = sys.argv[1], Path(sys.argv[2])
    os.chdir(sandbox)
    result = SCENARIOS[name](Reaper(), sandbox)
    print(json.dumps(result))
